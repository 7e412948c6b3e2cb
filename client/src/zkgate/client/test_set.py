"""A consumer's labelled test set, and the commitment it makes to it before revealing it.

The commitment is a Merkle root (RFC 6962) over one leaf per example, each leaf binding the
example's position, its label and its exact float32 bytes and shape. A root rather than a flat
hash because a certificate's reader may later be shown single sampled examples with inclusion
proofs, without the rest of the set. The position is in the leaf so that reordering the set
changes the root: the sample is drawn by position.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from zkgate.client.canonical import framed_digest
from zkgate.client.merkle import leaf_hash, root_of_leaf_hashes
from zkgate.client.tensors import NamedTensor

_EXAMPLE_DOMAIN = "zkgate.test-set.example/1"
# A certificate's sample grows as 1/eps^2, not with the set; a million examples (a few hundred
# MB of small inputs) is far beyond any set a sample of 15,000 (eps = 1%) needs.
MAX_TEST_SET_EXAMPLES = 1_000_000


class TestSetError(ValueError):
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
        raw_examples, raw_labels = np.asarray(examples), np.asarray(labels)
        if raw_examples.dtype.kind != "f":
            raise TestSetError(f"examples must be floating point, got {raw_examples.dtype}")
        if raw_labels.dtype.kind not in "iu":
            raise TestSetError(f"labels must be integers (class indices), got {raw_labels.dtype}")
        if raw_examples.ndim < 2:
            raise TestSetError(
                f"examples must be stacked on axis 0 as (N, *input shape), got shape "
                f"{list(raw_examples.shape)}"
            )
        count = len(raw_examples)
        if not 1 <= count <= MAX_TEST_SET_EXAMPLES:
            raise TestSetError(
                f"a test set holds 1 to {MAX_TEST_SET_EXAMPLES} examples, got {count}"
            )
        if raw_labels.shape != (count,):
            raise TestSetError(
                f"labels must have shape ({count},), one per example, got {list(raw_labels.shape)}"
            )
        if (raw_labels < 0).any():
            raise TestSetError("labels are class indices and cannot be negative")
        as_float32 = np.ascontiguousarray(raw_examples, dtype=np.float32)
        if not np.isfinite(as_float32).all():
            raise TestSetError("examples hold NaN or infinite values (or overflow float32)")
        return cls(examples=as_float32, labels=np.ascontiguousarray(raw_labels, dtype=np.int64))

    @classmethod
    def from_npy(cls, examples: bytes, labels: bytes) -> TestSet:
        """From two .npy files; never a pickle (allow_pickle=False): the bytes may be remote."""
        return cls.from_arrays(_load_npy(examples, "examples"), _load_npy(labels, "labels"))

    def to_npy(self) -> tuple[bytes, bytes]:
        return _save_npy(self.examples), _save_npy(self.labels)

    def __len__(self) -> int:
        return len(self.examples)

    def example_leaf(self, index: int) -> bytes:
        example = self.examples[index]
        dims = b"".join(int(d).to_bytes(8, "big") for d in example.shape)
        digest = framed_digest(
            _EXAMPLE_DOMAIN,
            [
                index.to_bytes(8, "big"),
                int(self.labels[index]).to_bytes(8, "big"),
                dims,
                example.astype("<f4").tobytes(),
            ],
        )
        return leaf_hash(bytes.fromhex(digest))

    def commitment(self) -> str:
        """Hex Merkle root over the examples' leaves, in order."""
        return root_of_leaf_hashes([self.example_leaf(i) for i in range(len(self))]).hex()

    def example_tensor(self, index: int, input_name: str) -> NamedTensor:
        return NamedTensor(name=input_name, datatype="FP32", array=self.examples[index])


def _load_npy(data: bytes, what: str) -> npt.NDArray[Any]:
    try:
        array: npt.NDArray[Any] = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise TestSetError(f"{what} is not a .npy array ({exc}); save it with numpy.save") from exc
    return array


def _save_npy(array: npt.NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
