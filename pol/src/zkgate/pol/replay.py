"""Replaying a segment and measuring how far the replay lands from the record.

Four distances over the parameters (l1, l2, linf, and the cosine distance between the replayed
and the logged update), the ratio of the two updates' sizes, and the largest difference in
buffers and optimizer state. Distances alone let a spoofer hide tiny fake steps inside the
tolerance; the update ratio exposes them, since an honest replay moves as far as the record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from zkgate.core.learning.policy import Thresholds
from zkgate.pol.checkpoints import TrainingState
from zkgate.pol.training import TrainingRun


@dataclass(frozen=True)
class Discrepancy:
    l1: float
    l2: float
    linf: float
    cosine: float
    update_ratio: float
    state_linf: float

    def failures(self, limits: Thresholds) -> list[str]:
        checks = [
            ("l1", self.l1, limits.l1),
            ("l2", self.l2, limits.l2),
            ("linf", self.linf, limits.linf),
            ("cosine distance", self.cosine, limits.cosine),
            ("|update ratio - 1|", abs(self.update_ratio - 1.0), limits.update_ratio),
            ("buffer/optimizer-state linf", self.state_linf, limits.state_linf),
        ]
        return [
            f"{name} {value:.3g} exceeds {limit:.3g}"
            for name, value, limit in checks
            if not value <= limit
        ]


def replay(run: TrainingRun, start: TrainingState, end_step: int) -> TrainingState:
    run.load(start)
    run.advance(end_step)
    return run.state()


def measure(start: TrainingState, logged: TrainingState, replayed: TrainingState) -> Discrepancy:
    begin = start.flat_params()
    logged_params = logged.flat_params()
    replayed_params = replayed.flat_params()
    gap = replayed_params - logged_params
    logged_update = logged_params - begin
    replayed_update = replayed_params - begin
    logged_size = float(logged_update.norm())
    replayed_size = float(replayed_update.norm())
    if logged_size > 0 and replayed_size > 0:
        cosine = 1.0 - float(torch.dot(logged_update, replayed_update)) / (
            logged_size * replayed_size
        )
    else:
        cosine = 0.0 if logged_size == replayed_size else 1.0
    if logged_size > 0:
        ratio = replayed_size / logged_size
    else:
        ratio = 1.0 if replayed_size == 0 else math.inf
    return Discrepancy(
        l1=float(gap.abs().sum()),
        l2=float(gap.norm()),
        linf=float(gap.abs().max()),
        cosine=max(cosine, 0.0),
        update_ratio=ratio,
        state_linf=state_gap(logged, replayed),
    )


def state_gap(logged: TrainingState, replayed: TrainingState) -> float:
    """Largest difference in buffers and optimizer state; infinite when one side has an entry
    the other lacks, or a shape differs."""
    left, right = logged.flat_extra_state(), replayed.flat_extra_state()
    if left.keys() != right.keys():
        return math.inf
    gap = 0.0
    for key, tensor in left.items():
        other = right[key]
        if tensor.shape != other.shape:
            return math.inf
        if tensor.numel():
            gap = max(gap, float((tensor.double() - other.double()).abs().max()))
    return gap


def update_size(start: TrainingState, end: TrainingState) -> float:
    return float((end.flat_params() - start.flat_params()).norm())
