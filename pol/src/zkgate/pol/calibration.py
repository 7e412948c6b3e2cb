"""Calibration: thresholds from measured honest replay noise, with a stated margin.

Bit-equality is the wrong test: a replay on another thread count reduces sums in another order
and lands a little off (FACTS: 2e-6 at 4.35 M parameters), while spoofs land far off (above 0.05).
So honest runs are trained under several seeds and replayed under several thread counts, and each
threshold is the largest honest discrepancy times the margin. Noise that measures as exactly zero
gets a floor relative to the update size, so thresholds never demand bit-equality.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

from zkgate.core.learning.admission import noise_floors
from zkgate.core.learning.policy import CalibrationRecord, Thresholds, TrainingPolicy
from zkgate.pol.dataset import Dataset
from zkgate.pol.replay import measure, replay, update_size
from zkgate.pol.training import TrainingRun, deterministic

DEFAULT_MARGIN = 10.0
DEFAULT_SEEDS = 3
DEFAULT_THREAD_COUNTS = (1, 2)
_METRICS = ("l1", "l2", "linf", "cosine", "update_ratio", "state_linf")


def calibrate(
    policy: TrainingPolicy,
    dataset: Dataset,
    *,
    seeds: int = DEFAULT_SEEDS,
    thread_counts: Sequence[int] = DEFAULT_THREAD_COUNTS,
    margin: float = DEFAULT_MARGIN,
) -> TrainingPolicy:
    """Returns `policy` with thresholds and the record of how they were measured."""
    if seeds < 1 or not thread_counts or margin < 1:
        raise ValueError("calibration needs a seed, a thread count and a margin of at least 1")
    noise = dict.fromkeys(_METRICS, 0.0)
    sizes: list[float] = []
    for _ in range(seeds):
        run = TrainingRun(policy, dataset, os.urandom(32))
        with deterministic(policy.threads):
            run.start()
            states = []
            for step in policy.checkpoint_steps():
                run.advance(step)
                states.append(run.state())
        sizes += [update_size(a, b) for a, b in itertools.pairwise(states)]
        for threads in thread_counts:
            with deterministic(threads):
                for start, logged in itertools.pairwise(states):
                    gap = measure(start, logged, replay(run, start, logged.step))
                    observed = {**vars(gap), "update_ratio": abs(gap.update_ratio - 1.0)}
                    for metric in _METRICS:
                        noise[metric] = max(noise[metric], observed[metric])
    median = sorted(sizes)[len(sizes) // 2]
    floors = noise_floors(median, sum(t.numel() for t in states[0].params.values()))
    limits = {metric: margin * max(noise[metric], floors[metric]) for metric in _METRICS}
    thresholds = Thresholds(**limits, min_update_l2=min(sizes) / margin)
    record = CalibrationRecord(
        margin=margin,
        seeds=seeds,
        thread_counts=tuple(thread_counts),
        honest_max=noise,
        smallest_honest_update_l2=min(sizes),
        median_honest_update_l2=median,
    )
    return policy.with_thresholds(thresholds, record)
