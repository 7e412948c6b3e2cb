"""The training step, shared by the recorder and the replaying verifier.

One function trains and replays, so the two cannot drift apart: the batch for a step comes from
the seed, the learning rate from the policy, and floating-point behaviour from an explicit thread
count with torch's deterministic algorithms on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from zkgate.core.learning.policy import TrainingPolicy
from zkgate.pol.architecture import build_model, initialize
from zkgate.pol.checkpoints import TrainingState, capture, restore
from zkgate.pol.dataset import Dataset
from zkgate.pol.randomness import data_order


@contextmanager
def deterministic(threads: int) -> Iterator[None]:
    previous_threads = torch.get_num_threads()
    previous_mode = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_mode)


def make_optimizer(policy: TrainingPolicy, model: nn.Module) -> torch.optim.Optimizer:
    spec = policy.optimizer
    if spec.kind == "adam":
        return torch.optim.Adam(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    return torch.optim.SGD(
        model.parameters(), lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
    )


class TrainingRun:
    """A model, its optimizer and the data, driven step by step under a policy and a seed."""

    def __init__(self, policy: TrainingPolicy, dataset: Dataset, seed: bytes) -> None:
        self.policy = policy
        self.seed = seed
        self.model = build_model(policy.architecture)
        self.optimizer = make_optimizer(policy, self.model)
        self.step = 0
        self._features = torch.from_numpy(dataset.features)
        self._labels = torch.from_numpy(dataset.labels)
        self._loss = nn.CrossEntropyLoss()
        self._order = lru_cache(maxsize=2)(self._epoch_order)

    def _epoch_order(self, epoch: int) -> npt.NDArray[np.int64]:
        return data_order(self.seed, epoch, self.policy.dataset_size)

    def start(self) -> None:
        """Puts the run at step 0 with W0 = init(seed) and empty optimizer state."""
        initialize(self.model, self.seed)
        self.optimizer.state.clear()
        self.step = 0

    def batch_indices(self, step: int) -> npt.NDArray[np.int64]:
        epoch, position = divmod(step, self.policy.steps_per_epoch)
        size = self.policy.batch_size
        return self._order(epoch)[position * size : (position + 1) * size]

    def learning_rate(self, step: int) -> float:
        return self.policy.learning_rate(step)

    def advance(self, until_step: int) -> None:
        self.model.train()
        while self.step < until_step:
            batch = torch.from_numpy(self.batch_indices(self.step))
            for group in self.optimizer.param_groups:
                group["lr"] = self.learning_rate(self.step)
            self.optimizer.zero_grad(set_to_none=True)
            self._loss(self.model(self._features[batch]), self._labels[batch]).backward()
            self.optimizer.step()
            self.step += 1

    def state(self) -> TrainingState:
        return capture(self.model, self.optimizer, self.step)

    def load(self, state: TrainingState) -> None:
        restore(state, self.model, self.optimizer)
        self.step = state.step
