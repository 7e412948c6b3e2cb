"""Training data, committed by a Merkle root over canonical example bytes.

Each example is committed with its dtype, shape, label and index around its little-endian raw
bytes: hashing `str(array)`, as the reference implementation did, hashes numpy's truncated
printout, so most of the data is not committed at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import safetensors.numpy

from zkgate.core.canonical import framed_digest
from zkgate.core.documents import DocumentError, quote
from zkgate.core.merkle import leaf_hash, root_of_leaf_hashes
from zkgate.pol.safetensors_header import safetensors_metadata

_EXAMPLE_DOMAIN = "zkgate.pol.example/1"
DIGITS_PIXEL_MAX = 16.0


class DatasetError(ValueError):
    """A dataset file that is unreadable or not of the committed form."""


@dataclass(frozen=True)
class Dataset:
    features: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        if self.features.dtype != np.float32 or self.labels.dtype != np.int64:
            raise DatasetError("features must be float32 and labels int64")
        if self.labels.ndim != 1 or len(self.features) != len(self.labels) or not len(self.labels):
            raise DatasetError("need one label per example, and at least one example")

    def __len__(self) -> int:
        return len(self.labels)

    def example_hash(self, index: int) -> bytes:
        row = np.ascontiguousarray(self.features[index]).astype("<f4", copy=False)
        parts = [
            b"float32",
            ",".join(str(d) for d in row.shape).encode(),
            str(int(self.labels[index])).encode(),
            str(index).encode(),
            row.tobytes(),
        ]
        return bytes.fromhex(framed_digest(_EXAMPLE_DOMAIN, parts))

    def leaf_hashes(self) -> list[bytes]:
        return [leaf_hash(self.example_hash(i)) for i in range(len(self))]

    def root(self) -> str:
        return root_of_leaf_hashes(self.leaf_hashes()).hex()

    def save(self, path: Path) -> None:
        safetensors.numpy.save_file({"features": self.features, "labels": self.labels}, path)

    @classmethod
    def load(cls, path: Path) -> Dataset:
        try:
            data = path.read_bytes()
            safetensors_metadata(data, path.name)
            tensors = safetensors.numpy.load(data)
            if tensors.keys() != {"features", "labels"}:
                raise DatasetError(
                    f"{path.name} holds {quote(sorted(tensors))}, not features and labels"
                )
            return cls(features=tensors["features"], labels=tensors["labels"])
        except (DatasetError, DocumentError) as exc:
            raise DatasetError(str(exc)) from exc
        except Exception as exc:  # safetensors raises its own error types and OSError
            raise DatasetError(f"{path.name} is not a readable dataset file: {exc}") from exc


def digits_dataset() -> Dataset:
    """sklearn's bundled 8x8 digits (1797 examples), pixels scaled into [0, 1]: available
    offline, and small enough to train and replay in seconds."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return Dataset(
        features=(digits.data / DIGITS_PIXEL_MAX).astype(np.float32),
        labels=digits.target.astype(np.int64),
    )
