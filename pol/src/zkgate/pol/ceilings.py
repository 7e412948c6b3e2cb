"""The verifier's own calibration: the loosest thresholds it accepts, measured, not declared.

A policy's thresholds and its calibration record are written by the trainer. A thief writes
`state_linf: 1e3` into its policy, gets an intent signed for it, and then steers its run toward
stolen weights through the momentum it logs: every parameter replays exactly, only the
momentum is off. So the verifier measures honest replay noise itself, on segments of the proof
being checked: it replays each at the policy's thread count and at another one and compares the
two replays with each other. That difference is the computation's own noise, whatever the
logged states are. Each threshold must be at most CEILING_MARGIN times that noise (or, where
the noise measures as zero, times the same floor relative to the replayed update that
calibration uses); the replay is then judged against the lower of the two. Optimizer state
(momentum, Adam moments) is held to its ceiling like the parameters: it decides where the next
segment goes, so it is as much the prover's choice as the weights.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields

from zkgate.core.learning.admission import noise_floors
from zkgate.core.learning.policy import CalibrationRecord, Thresholds
from zkgate.pol.checkpoints import TrainingState
from zkgate.pol.replay import measure, replay, update_size
from zkgate.pol.training import TrainingRun, deterministic

# Calibration's default margin is 10; a ceiling ten times looser than that leaves room for noise
# the verifier's sample did not meet, and is still far below what an attack leaves (above 0.05
# in l2 for every attack measured, against honest noise of 1e-6 and less).
CEILING_MARGIN = 100.0
# The segments the verifier measures noise on: enough to see the noise, few enough to cost
# little next to the replay itself.
NOISE_SEGMENTS = 3

Loader = Callable[[int], TrainingState]


@dataclass(frozen=True)
class OwnCalibration:
    """Honest replay noise as this verifier measured it, and the scale its floors use."""

    noise: dict[str, float]
    update_l2: float
    parameters: int
    threads: tuple[int, int]

    def ceilings(self) -> Thresholds:
        floors = noise_floors(self.update_l2, self.parameters)
        limits = {m: CEILING_MARGIN * max(self.noise[m], floors[m]) for m in floors}
        # min_update_l2 bounds from below: its loosest acceptable value is a floor.
        return Thresholds(**limits, min_update_l2=self.update_l2 / (CEILING_MARGIN * 10))


def measure_noise(
    run: TrainingRun, load: Loader, indices: Iterable[int], threads: int
) -> OwnCalibration:
    """Replays each segment at `threads` and at another thread count, and takes the largest
    difference between the two replays, per metric."""
    other = 1 if threads != 1 else 2
    noise = dict.fromkeys((f.name for f in fields(Thresholds) if f.name != "min_update_l2"), 0.0)
    sizes = []
    start = load(0)
    for index in indices:
        start, logged = load(index), load(index + 1)
        with deterministic(threads):
            first = replay(run, start, logged.step)
        with deterministic(other):
            second = replay(run, start, logged.step)
        gap = asdict(measure(start, first, second))
        gap["update_ratio"] = abs(gap["update_ratio"] - 1.0)
        noise = {m: max(noise[m], gap[m]) for m in noise}
        sizes.append(update_size(start, first))
    return OwnCalibration(
        noise=noise,
        update_l2=statistics.median(sizes),
        parameters=sum(t.numel() for t in start.params.values()),
        threads=(threads, other),
    )


def threshold_problems(
    declared: Thresholds, record: CalibrationRecord | None, own: OwnCalibration
) -> list[str]:
    """Where the policy is looser than this verifier's ceilings, or its calibration record
    claims more honest noise than the verifier can find."""
    ceilings = own.ceilings()
    problems = [
        f"the policy's {name} threshold {value:.3g} is looser than this verifier's ceiling "
        f"{limit:.3g} ({CEILING_MARGIN:g}x the honest noise it measured itself)"
        for name, value, limit in _pairs(declared, ceilings)
        if not value <= limit
    ]
    if not declared.min_update_l2 >= ceilings.min_update_l2:
        problems.append(
            f"the policy's minimum update {declared.min_update_l2:.3g} is below this verifier's "
            f"floor {ceilings.min_update_l2:.3g} (the replayed updates, divided by "
            f"{CEILING_MARGIN * 10:g})"
        )
    if record is not None:
        if not record.median_honest_update_l2 <= CEILING_MARGIN * own.update_l2:
            # Its noise floors scale with this figure, so an inflated one loosens every floor.
            problems.append(
                f"the calibration record claims a median honest update of "
                f"{record.median_honest_update_l2:.3g}; this verifier measures "
                f"{own.update_l2:.3g} and accepts at most {CEILING_MARGIN:g}x that"
            )
        problems += [
            f"the calibration record claims honest {name} noise {claimed:.3g}; this verifier "
            f"measures {own.noise.get(name, 0.0):.3g} and accepts at most {limit:.3g}"
            for name, limit in asdict(ceilings).items()
            if name in record.honest_max
            for claimed in [record.honest_max[name]]
            if not claimed <= limit
        ]
    return problems


def effective(declared: Thresholds, own: OwnCalibration) -> Thresholds:
    """The policy's thresholds, none looser than the verifier's ceilings."""
    ceilings = own.ceilings()
    tighter = {name: min(value, limit) for name, value, limit in _pairs(declared, ceilings)}
    return Thresholds(**tighter, min_update_l2=max(declared.min_update_l2, ceilings.min_update_l2))


def _pairs(declared: Thresholds, ceilings: Thresholds) -> list[tuple[str, float, float]]:
    limits = asdict(ceilings)
    return [
        (name, value, limits[name])
        for name, value in asdict(declared).items()
        if name != "min_update_l2"
    ]
