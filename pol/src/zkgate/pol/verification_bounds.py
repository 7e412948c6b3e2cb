"""What a proof may ask of the verifier, bounded before any work is done.

Policies come from the trainer; one claiming a run of 10^7 epochs must not make the verifier
replay anything of that size before saying no, and a proof directory must not hold more, or
larger, files than its manifest implies. Whatever exceeds these bounds is refused unverified.
"""

from __future__ import annotations

from pathlib import Path

from zkgate.core.documents import quote
from zkgate.core.learning.layout import LayoutError, ProofShape
from zkgate.core.learning.policy import ReplayPlan, TrainingPolicy

# The replay plan is bounded in training steps (each costs a fixed overhead, about 0.3 ms for a
# small MLP), and in example-parameter products (the arithmetic of a step is about 6 per example
# and parameter; 10^12 is a few minutes on 2 cores). A registration the gateway accepts, an MLP
# of up to MAX_PARAMETERS trained for tens of epochs, needs far less (the digits example: 144
# steps, 6 * 10^6 products).
MAX_REPLAYED_STEPS = 100_000
MAX_REPLAY_WORK = 10**12
# Drawing an epoch's data order is a Python loop over the examples.
MAX_ORDER_DRAWS = 50_000_000
# Enough named problems for a reader to see what is wrong with a directory, not all of them.
_LAYOUT_PROBLEMS_SHOWN = 3


def workload_problems(policy: TrainingPolicy, plan: ReplayPlan) -> list[str]:
    """What replaying this policy would cost, bounded before anything is built: the claimed
    network and run, the replay plan's steps and arithmetic, and the data-order draws."""
    shape = _shape(policy, policy.checkpoint_count)
    problems = shape.problems()
    if problems:
        return problems
    segments = policy.checkpoint_count - 1
    replayed = min(segments, 2 + min(policy.epochs, segments) * plan.top_q + plan.random_segments)
    steps = replayed * policy.checkpoint_interval
    work = steps * policy.batch_size * shape.parameters
    if steps > MAX_REPLAYED_STEPS:
        problems.append(
            f"the replay plan covers up to {steps:,} training steps ({replayed} segments of "
            f"{policy.checkpoint_interval:,}); this verifier replays at most {MAX_REPLAYED_STEPS:,}"
        )
    elif work > MAX_REPLAY_WORK:
        problems.append(
            f"the replay plan costs up to {work:.3g} example-parameter products; this verifier "
            f"replays at most {MAX_REPLAY_WORK:.3g}"
        )
    if replayed * policy.dataset_size > MAX_ORDER_DRAWS:
        problems.append(
            f"the replay plan draws {replayed * policy.dataset_size:,} data-order positions; "
            f"the limit is {MAX_ORDER_DRAWS:,}"
        )
    return problems


def layout_problems(proof_dir: Path, policy: TrainingPolicy, checkpoints: int) -> list[str]:
    """Every file in the proof directory is one the manifest implies, within its budget: an
    archive was already held to this while it was unpacked, a directory is held to it here."""
    shape = _shape(policy, checkpoints)
    problems = []
    for path in sorted(proof_dir.rglob("*")):
        name = path.relative_to(proof_dir).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            problems.append(f"{quote(name)} is not a regular file")
        elif path.is_file():
            try:
                shape.check_file(name, path.stat().st_size)
            except LayoutError as exc:
                problems.append(str(exc))
        if len(problems) >= _LAYOUT_PROBLEMS_SHOWN:
            break
    return problems


def _shape(policy: TrainingPolicy, checkpoints: int) -> ProofShape:
    return ProofShape(
        sizes=policy.architecture.sizes,
        optimizer=policy.optimizer.kind,
        dataset_size=policy.dataset_size,
        checkpoint_count=checkpoints,
    )
