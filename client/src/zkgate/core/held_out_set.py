"""A consumer's labelled test set, and the commitment it makes to it before revealing it.

The commitment is a Merkle root (RFC 6962) over one leaf per example, each leaf binding the
example's position, its label and its exact float32 bytes and shape. A root rather than a flat
hash because a certificate's reader may later be shown single sampled examples with inclusion
proofs, without the rest of the set. The position is in the leaf so that reordering the set
changes the root: the sample is drawn by position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from zkgate.core.array_rows import RowsError, checked_rows, load_npy, row_leaf, save_npy
from zkgate.core.merkle import root_of_leaf_hashes
from zkgate.core.tensors import NamedTensor

_EXAMPLE_DOMAIN = "zkgate.test-set.example/1"


class TestSetError(RowsError):
    """A test set that cannot be committed to: wrong dtype, shape, labels, or unreadable bytes."""

    __test__ = False  # a domain name, not a pytest class


@dataclass(frozen=True)
class TestSet:
    """examples: float32, shape (N, *model input shape); labels: int64, shape (N,)."""

    __test__ = False  # a domain name, not a pytest class

    examples: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]

    @classmethod
    def from_arrays(cls, examples: npt.ArrayLike, labels: npt.ArrayLike) -> TestSet:
        """Validated copies: float inputs become float32 (the dtype the models are served in),
        integer labels int64; anything else is refused rather than silently converted."""
        rows = checked_rows(examples, "examples", TestSetError)
        raw_labels = np.asarray(labels)
        if raw_labels.dtype.kind not in "iu":
            raise TestSetError(f"labels must be integers (class indices), got {raw_labels.dtype}")
        count = len(rows)
        if raw_labels.shape != (count,):
            raise TestSetError(
                f"labels must have shape ({count},), one per example, got {list(raw_labels.shape)}"
            )
        if (raw_labels < 0).any():
            raise TestSetError("labels are class indices and cannot be negative")
        return cls(examples=rows, labels=np.ascontiguousarray(raw_labels, dtype=np.int64))

    @classmethod
    def from_npy(cls, examples: bytes, labels: bytes) -> TestSet:
        """From two .npy files; never a pickle (allow_pickle=False): the bytes may be remote."""
        return cls.from_arrays(
            load_npy(examples, "examples", TestSetError), load_npy(labels, "labels", TestSetError)
        )

    def to_npy(self) -> tuple[bytes, bytes]:
        return save_npy(self.examples), save_npy(self.labels)

    def __len__(self) -> int:
        return len(self.examples)

    def example_leaf(self, index: int) -> bytes:
        label = int(self.labels[index]).to_bytes(8, "big")
        return row_leaf(_EXAMPLE_DOMAIN, index, self.examples[index], [label])

    def commitment(self) -> str:
        """Hex Merkle root over the examples' leaves, in order."""
        return root_of_leaf_hashes([self.example_leaf(i) for i in range(len(self))]).hex()

    def example_tensor(self, index: int, input_name: str) -> NamedTensor:
        return NamedTensor(name=input_name, datatype="FP32", array=self.examples[index])
