"""Which training policies a verifier admits, judged from the policy alone.

A policy is written by the trainer, thresholds and calibration record included, so none of it
is believed as stated. These checks need no torch and no replay: a gateway runs them before it
signs an intent for a policy, and the verifier runs them again on the proof. They hold the
thresholds to what the policy's own calibration record implies (the record's honest noise times
its margin, with the same floors calibration uses) and the margin to at most MAX_MARGIN. The
record's noise figures are the trainer's claim too; the verifier measures replay noise itself
and holds the record to that (zkgate.pol.ceilings), which closes the chain: thresholds <= what
the record implies, the record <= what the verifier measures.
"""

from __future__ import annotations

import math
from dataclasses import asdict

from zkgate.core.learning.layout import parameter_count
from zkgate.core.learning.policy import ReplayPlan, TrainingPolicy

# The unitless metrics get fixed caps: a cosine distance of 0.01 already admits an update 8
# degrees off the honest one.
MAX_COSINE_THRESHOLD = 0.01
MAX_UPDATE_RATIO_THRESHOLD = 0.01
# Calibration multiplies honest noise by a margin (10 by default); above this, the thresholds
# are no longer a measurement.
MAX_MARGIN = 100.0
# The least a verifier replays, whatever the policy asks: the first and last segments always,
# the top-Q updates of each epoch and this many segments drawn from its own nonce.
MINIMUM_REPLAY = ReplayPlan(top_q=1, random_segments=8)
# Floors, as fractions of the median honest segment update (or absolute, for the unitless
# cosine distance and update ratio): noise that measures as exactly zero gets a floor, so
# thresholds never demand bit-equality across machines.
DISTANCE_FLOOR = 1e-6
FLOORS_ABSOLUTE = {"cosine": 1e-9, "update_ratio": 1e-6}
# Float round-off between the calibrator's product and this one.
_ROUNDING = 1 + 1e-9


def noise_floors(update_l2: float, parameters: int) -> dict[str, float]:
    """The smallest noise each metric is credited with, for updates of size `update_l2`."""
    scale = update_l2 * DISTANCE_FLOOR
    return {
        "l1": scale * math.sqrt(parameters),
        "l2": scale,
        "linf": scale,
        "state_linf": scale,
        **FLOORS_ABSOLUTE,
    }


def stronger_plan(plan: ReplayPlan, minimum: ReplayPlan) -> ReplayPlan:
    """The plan a verifier follows: the policy's, raised to its own minimum."""
    return ReplayPlan(
        top_q=max(plan.top_q, minimum.top_q),
        random_segments=max(plan.random_segments, minimum.random_segments),
    )


def admission_problems(policy: TrainingPolicy) -> list[str]:
    """Why this policy's thresholds cannot be trusted, worded for the person who wrote it;
    empty if they can (as far as the policy alone shows)."""
    limits = policy.thresholds
    problems = []
    if not limits.cosine <= MAX_COSINE_THRESHOLD:
        problems.append(
            f"the policy's cosine threshold {limits.cosine:.3g} is looser than a verifier "
            f"accepts ({MAX_COSINE_THRESHOLD})"
        )
    if not limits.update_ratio <= MAX_UPDATE_RATIO_THRESHOLD:
        problems.append(
            f"the policy's update-ratio threshold {limits.update_ratio:.3g} is looser than a "
            f"verifier accepts ({MAX_UPDATE_RATIO_THRESHOLD})"
        )
    record = policy.calibration
    if record is None:
        return [*problems, "the policy's thresholds were never calibrated against honest replay"]
    if not 1 <= record.margin <= MAX_MARGIN:
        return [
            *problems,
            f"the calibration margin {record.margin:g} is outside 1 to {MAX_MARGIN:g}",
        ]
    floors = noise_floors(
        record.median_honest_update_l2, parameter_count(policy.architecture.sizes)
    )
    for name, value in asdict(limits).items():
        if name == "min_update_l2":
            continue
        implied = record.margin * max(record.honest_max.get(name, 0.0), floors[name])
        if not value <= implied * _ROUNDING:
            problems.append(
                f"the policy's {name} threshold {value:.3g} is looser than its calibration "
                f"record implies ({record.margin:g} x honest noise "
                f"{record.honest_max.get(name, 0.0):.3g}, floor {floors[name]:.3g}: "
                f"{implied:.3g})"
            )
    smallest = record.smallest_honest_update_l2 / record.margin
    if not limits.min_update_l2 * _ROUNDING >= smallest:
        problems.append(
            f"the policy's minimum update {limits.min_update_l2:.3g} is below what its "
            f"calibration record implies ({smallest:.3g})"
        )
    return problems


def plan_problems(policy: TrainingPolicy, minimum: ReplayPlan) -> list[str]:
    """Where the policy's own replay plan is weaker than `minimum`; a gateway that wants more
    replay for its models says so before the run, when the owner can still choose."""
    plan = policy.replay
    return [
        f"the policy replays {value} {what}; this verifier requires at least {required}"
        for what, value, required in (
            ("top-Q segments per epoch", plan.top_q, minimum.top_q),
            ("random segments", plan.random_segments, minimum.random_segments),
        )
        if value < required
    ]
