"""A responder's dataset for trustless retrieval, and the Merkle root it commits to.

One leaf per record, binding its position, shape and exact float32 bytes (`array_rows`), so a
requester shown a single record with an inclusion path knows it is the record at that position
of the committed set, without seeing the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from zkgate.core.array_rows import checked_rows, load_npy, row_leaf, save_npy
from zkgate.core.merkle import root_of_leaf_hashes

_RECORD_DOMAIN = "zkgate.retrieval.record/1"


def record_leaf(index: int, record: npt.NDArray[np.float32]) -> bytes:
    return row_leaf(_RECORD_DOMAIN, index, record)


@dataclass(frozen=True)
class Dataset:
    """records: float32, shape (N, *predicate input shape)."""

    records: npt.NDArray[np.float32]

    @classmethod
    def from_array(cls, records: npt.ArrayLike) -> Dataset:
        return cls(records=checked_rows(records, "records"))

    @classmethod
    def from_npy(cls, data: bytes) -> Dataset:
        return cls.from_array(load_npy(data, "records"))

    def to_npy(self) -> bytes:
        return save_npy(self.records)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def record_shape(self) -> list[int]:
        return [int(d) for d in self.records.shape[1:]]

    def leaves(self) -> list[bytes]:
        return [record_leaf(i, self.records[i]) for i in range(len(self))]

    def commitment(self) -> str:
        """Hex Merkle root over the records' leaves, in order."""
        return root_of_leaf_hashes(self.leaves()).hex()
