"""Stacks of float32 rows that a party commits to by Merkle root: test sets and datasets.

Both kinds are sent as .npy and committed to one leaf per row, the leaf binding the row's
position, its exact float32 bytes and shape, and whatever else the kind attaches (a label). The
position is in the leaf so that reordering changes the root: samples are drawn by position.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from zkgate.client.canonical import framed_digest
from zkgate.client.merkle import leaf_hash

# A sample grows as 1/eps^2, not with the set; a million rows (a few hundred MB of small
# inputs) is far beyond any set a sample of 15,000 (eps = 1%) needs.
MAX_ROWS = 1_000_000


class RowsError(ValueError):
    """Rows that cannot be committed to: wrong dtype or shape, or unreadable bytes."""


def checked_rows(
    raw: npt.ArrayLike, what: str, error: type[RowsError] = RowsError
) -> npt.NDArray[np.float32]:
    """A validated float32 copy of (N, *input shape) rows: float input becomes float32 (the
    dtype models are served in); anything else is refused, as `error`, rather than silently
    converted."""
    array = np.asarray(raw)
    if array.dtype.kind != "f":
        raise error(f"{what} must be floating point, got {array.dtype}")
    if array.ndim < 2:
        raise error(
            f"{what} must be stacked on axis 0 as (N, *input shape), got shape {list(array.shape)}"
        )
    if not 1 <= len(array) <= MAX_ROWS:
        raise error(f"{what} must hold 1 to {MAX_ROWS} rows, got {len(array)}")
    as_float32 = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(as_float32).all():
        raise error(f"{what} hold NaN or infinite values (or overflow float32)")
    return as_float32


def row_leaf(
    domain: str, index: int, row: npt.NDArray[np.float32], attached: Sequence[bytes] = ()
) -> bytes:
    dims = b"".join(int(d).to_bytes(8, "big") for d in row.shape)
    digest = framed_digest(
        domain, [index.to_bytes(8, "big"), *attached, dims, row.astype("<f4").tobytes()]
    )
    return leaf_hash(bytes.fromhex(digest))


def load_npy(data: bytes, what: str, error: type[RowsError] = RowsError) -> npt.NDArray[Any]:
    """Never a pickle (allow_pickle=False): the bytes may be remote."""
    try:
        array: npt.NDArray[Any] = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise error(f"{what} is not a .npy array ({exc}); save it with numpy.save") from exc
    return array


def save_npy(array: npt.NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
