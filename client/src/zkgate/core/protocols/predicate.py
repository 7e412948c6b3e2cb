"""What a retrieval predicate is, as requester and responder both read it: the fixed-point
scales it may be keyed at, and the output class that means it holds.

Both sides check a requested scale before anything is compiled, so the range lives here, apart
from the client's circuit checks (which need ezkl) and the gateway's registration.
"""

# The fixed-point scale (bits after the point, for records and weights alike) a requester asks
# for by default: ezkl's calibration settles on it for small predicates, and a step of 2^-13
# keeps weights down to about 1e-3 within 1% of their value.
DEFAULT_PREDICATE_SCALE = 13
# Below this a circuit rounds weights and records so coarsely that a predicate may come out
# constant; above it, fixed-point values of ordinary records overflow ezkl's range checks.
MIN_PREDICATE_SCALE = 7
MAX_PREDICATE_SCALE = 20
# The class of the predicate's two-way output that means "holds".
HOLDS = 1


def check_predicate_scale(scale: int) -> int:
    """Raises ValueError unless the requester may ask for this scale."""
    if not MIN_PREDICATE_SCALE <= scale <= MAX_PREDICATE_SCALE:
        raise ValueError(
            f"a predicate scale of {scale} bits refused: ask for {MIN_PREDICATE_SCALE} to "
            f"{MAX_PREDICATE_SCALE} bits after the point"
        )
    return scale
