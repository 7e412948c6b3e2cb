"""The bundled example's training policy: an MLP on sklearn's digits, trained with SGD.

Small enough that recording, calibrating and replaying every segment take seconds on a laptop
CPU, which is what the tests, benchmarks and `zkgate pol record` without a policy file use.
"""

from __future__ import annotations

import torch

from zkgate.core.learning.policy import (
    Architecture,
    OptimizerSpec,
    ReplayPlan,
    Schedule,
    Thresholds,
    TrainingPolicy,
)
from zkgate.pol.dataset import Dataset

HIDDEN = 16
# Before calibration: bit-exact replay, which deterministic torch gives on one machine. Run
# `zkgate pol calibrate` to replace these with thresholds measured across thread counts.
UNCALIBRATED = Thresholds(
    l1=0.0, l2=0.0, linf=0.0, cosine=0.0, update_ratio=0.0, state_linf=0.0, min_update_l2=0.0
)


def digits_policy(
    dataset: Dataset, *, epochs: int = 8, checkpoint_interval: int = 8
) -> TrainingPolicy:
    return TrainingPolicy(
        architecture=Architecture(kind="mlp", sizes=(dataset.features.shape[1], HIDDEN, 10)),
        optimizer=OptimizerSpec(kind="sgd", lr=0.05, momentum=0.9),
        schedule=Schedule(kind="step", every_epochs=4, gamma=0.5),
        batch_size=32,
        epochs=epochs,
        checkpoint_interval=checkpoint_interval,
        dataset_root=dataset.root(),
        dataset_size=len(dataset),
        thresholds=UNCALIBRATED,
        replay=ReplayPlan(top_q=1, random_segments=8),
        versions={"torch": torch.__version__},
    )
