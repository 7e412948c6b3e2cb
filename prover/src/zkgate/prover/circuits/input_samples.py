"""Samples of a model's inputs, all of them together: what registration calibrates on, checks
fidelity on and proves its test proof of.

A model takes one or more named inputs, and sample i is the i-th array of each. Every stage
reads the samples through this one type, so no stage can mix up inputs or their order (the
model's), slice one input and not another, or feed ezkl a different order than onnxruntime.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from zkgate.core.card import TensorSpec
from zkgate.core.tensors import NamedTensor
from zkgate.prover.circuits.witness_input import witness_input_json


@dataclass(frozen=True)
class InputSamples:
    """`arrays[k]` holds the samples of input `specs[k]`, shape (N, *specs[k].shape), N the same
    for every input."""

    specs: tuple[TensorSpec, ...]
    arrays: tuple[npt.NDArray[Any], ...]

    @classmethod
    def of(cls, specs: Sequence[TensorSpec], arrays: Sequence[npt.NDArray[Any]]) -> InputSamples:
        if len(specs) != len(arrays) or len({len(a) for a in arrays}) != 1:
            raise ValueError("one array per input, each with the same number of samples")
        return cls(tuple(specs), tuple(arrays))

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, rows: slice) -> InputSamples:
        return InputSamples(self.specs, tuple(array[rows] for array in self.arrays))

    def rolled(self, shift: int) -> InputSamples:
        """Every input's samples rotated alike: sample i becomes sample i - shift."""
        return InputSamples(self.specs, tuple(np.roll(a, -shift, axis=0) for a in self.arrays))

    def joined(self, other: InputSamples) -> InputSamples:
        return InputSamples(
            self.specs,
            tuple(np.concatenate([a, b]) for a, b in zip(self.arrays, other.arrays, strict=True)),
        )

    def feeds(self, index: int) -> dict[str, npt.NDArray[Any]]:
        """Sample `index` as onnxruntime takes it."""
        return {
            spec.name: array[index] for spec, array in zip(self.specs, self.arrays, strict=True)
        }

    def tensors(self) -> list[NamedTensor]:
        """Each input's samples stacked, in the model's input order."""
        return [
            NamedTensor(spec.name, spec.datatype, array)
            for spec, array in zip(self.specs, self.arrays, strict=True)
        ]

    def input_data(self) -> bytes:
        """ezkl's data file of every sample: one flat list per input, the samples of each
        stacked (ezkl's calibration cuts each list into samples by its input's size)."""
        return witness_input_json(self.tensors())

    def sample_data(self, index: int) -> bytes:
        """ezkl's data file of sample `index` alone: a witness's input."""
        return self[index : index + 1].input_data()

    def digest(self) -> bytes:
        """A hash of every value, for seeding draws that must be reproducible."""
        hashed = hashlib.sha256()
        for array in self.arrays:
            hashed.update(np.ascontiguousarray(array).tobytes())
        return hashed.digest()
