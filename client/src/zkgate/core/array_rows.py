"""Stacks of float32 rows that a party commits to by Merkle root: test sets and datasets.

Both kinds are sent as .npy and committed to one leaf per row, the leaf binding the row's
position, its exact float32 bytes and shape, and whatever else the kind attaches (a label). The
position is in the leaf so that reordering changes the root: samples are drawn by position.
"""

from __future__ import annotations

import io
import tokenize
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib import format as npy_format

from zkgate.core.canonical import framed_digest
from zkgate.core.merkle import leaf_hash
from zkgate.core.tensors import element_count

# A sample grows as 1/eps^2, not with the set; a million rows (a few hundred MB of small
# inputs) is far beyond any set a sample of 15,000 (eps = 1%) needs.
MAX_ROWS = 1_000_000
# Versions 1.0 and 2.0 differ only in the header length field; 3.0 exists for UTF-8 field names
# of structured dtypes, which rows of numbers never have.
_NPY_HEADER_READERS = {
    (1, 0): npy_format.read_array_header_1_0,
    (2, 0): npy_format.read_array_header_2_0,
}
# Booleans, integers, floats and complex numbers: never objects, which only pickle can carry.
_NUMERIC_KINDS = frozenset("biufc")


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


def load_npy(
    data: bytes, what: str, error: Callable[[str], Exception] = RowsError
) -> npt.NDArray[Any]:
    """The array in .npy bytes from someone else, read by its header alone. np.load would take
    a zip (.npz) too and fail inside zipfile, trust the header's element count with an int64
    product, and, for a pickle, run code; here the header must be plain .npy of numbers whose
    shape holds exactly the bytes that follow."""
    stream = io.BytesIO(data)
    try:
        shape, fortran_order, dtype = _npy_header(stream)
        count = element_count(shape, "the array")
        body = len(data) - stream.tell()
        if body != count * dtype.itemsize:
            raise ValueError(
                f"its header declares shape {list(shape)} of {dtype}, "
                f"{count * dtype.itemsize} bytes, but {body} bytes follow"
            )
    except _NPY_HEADER_ERRORS as exc:
        raise error(f"{what} is not a .npy array ({exc}); save it with numpy.save") from exc
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=stream.tell())
    # A copy: callers get a writable array, as np.load gives, not a view of the request bytes.
    return flat.reshape(shape, order="F" if fortran_order else "C").copy()


# numpy parses the header dict with Python's tokenizer and literal_eval: a malformed one raises
# any of these (found by fuzzing), not only ValueError.
_NPY_HEADER_ERRORS = (ValueError, SyntaxError, TypeError, tokenize.TokenError, MemoryError)


def _npy_header(stream: io.BytesIO) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """(shape, Fortran order, dtype); raises ValueError (numpy's own, or ours) for anything
    but a plain .npy header of numbers."""
    version = npy_format.read_magic(stream)
    if version not in _NPY_HEADER_READERS:
        raise ValueError(f".npy format version {version} is not supported")
    shape, fortran_order, dtype = _NPY_HEADER_READERS[version](stream)
    if dtype.kind not in _NUMERIC_KINDS:
        raise ValueError(f"dtype {dtype} is not numeric")
    return shape, fortran_order, dtype


def save_npy(array: npt.NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
