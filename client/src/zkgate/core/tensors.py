"""Named tensors, Open Inference Protocol datatypes, and the canonical tensor digest.

Receipts sign digests of inputs and outputs, and a client later recomputes those digests from
the arrays it holds; both sides must therefore reduce a tensor to the same bytes. The encoding
fixes byte order (little-endian), memory order (C), and includes name, datatype and shape so that
a reshaped or relabelled tensor cannot share a digest with the original.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from zkgate.core.canonical import framed_digest
from zkgate.core.documents import quote

TENSOR_DIGEST_DOMAIN = "zkgate.tensors/v1"
# numpy refuses more than 64 dimensions, and code that stacks tensors (a batch, a test set's rows)
# adds axes of its own; ONNX models served for proving use a handful. 32 leaves that headroom
# while refusing nothing a circuit could take.
MAX_RANK = 32
# A gRPC message is at most 2 GiB - 1 bytes, and the smallest datatype takes a byte an element,
# so no tensor that arrives in one can span more elements than this.
MAX_ELEMENTS = 2**31 - 1

_DTYPES: dict[str, np.dtype[np.generic]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}


class TensorError(ValueError):
    """A tensor that does not match what it claims or what the model expects."""


def element_count(shape: Sequence[int], what: str) -> int:
    """How many elements a declared shape holds (`what` names its owner in errors), counted in
    Python integers: numpy's int64 product wraps ([2**32, 2**32] gives 0), and numpy refuses a
    shape whose nonzero dimensions multiply past its limit even when another one is 0."""
    dims = [int(d) for d in shape]
    if len(dims) > MAX_RANK:
        raise TensorError(f"{what}: {len(dims)} dimensions; at most {MAX_RANK} are accepted")
    if any(d < 0 for d in dims):
        raise TensorError(f"{what}: shape {quote(dims)} has a negative dimension")
    if math.prod(max(d, 1) for d in dims) > MAX_ELEMENTS:
        raise TensorError(
            f"{what}: shape {quote(dims)} spans more than {MAX_ELEMENTS} elements, more than "
            "a message can carry"
        )
    return math.prod(dims)


def numpy_dtype(datatype: str) -> np.dtype[np.generic]:
    try:
        return _DTYPES[datatype]
    except KeyError:
        known = ", ".join(sorted(_DTYPES))
        raise TensorError(f"unsupported datatype {quote(datatype)}; supported: {known}") from None


def oip_datatype(dtype: np.dtype[np.generic]) -> str:
    for name, candidate in _DTYPES.items():
        if candidate == dtype.newbyteorder("<") or candidate == dtype:
            return name
    raise TensorError(f"numpy dtype {dtype} has no Open Inference Protocol datatype")


@dataclass(frozen=True)
class NamedTensor:
    """An array with the name and OIP datatype it travels under."""

    name: str
    datatype: str
    array: npt.NDArray[np.generic]

    @classmethod
    def of(cls, name: str, array: npt.ArrayLike) -> NamedTensor:
        arr = np.ascontiguousarray(array)
        return cls(name=name, datatype=oip_datatype(arr.dtype), array=arr)

    @classmethod
    def from_raw(cls, name: str, datatype: str, shape: Sequence[int], data: bytes) -> NamedTensor:
        """The tensor whose row-major little-endian bytes are `data`; the byte count must be
        exactly what the shape and datatype take."""
        dtype = numpy_dtype(datatype)
        expected = element_count(shape, f"tensor {quote(name)}") * dtype.itemsize
        if len(data) != expected:
            raise TensorError(
                f"tensor {quote(name)}: {len(data)} raw bytes, but shape {list(shape)} of "
                f"{datatype} needs {expected}"
            )
        return cls(
            name=name, datatype=datatype, array=np.frombuffer(data, dtype=dtype).reshape(shape)
        )

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.array.shape)

    def raw_bytes(self) -> bytes:
        """Row-major little-endian bytes, as OIP's raw_*_contents carry them."""
        return np.ascontiguousarray(self.array, dtype=numpy_dtype(self.datatype)).tobytes()


def tensors_digest(tensors: Sequence[NamedTensor]) -> str:
    """Digest of an ordered tensor list (the model's declared input or output order)."""
    parts: list[bytes] = []
    for t in tensors:
        dims = b"".join(int(d).to_bytes(8, "big", signed=True) for d in t.shape)
        parts += [t.name.encode("utf-8"), t.datatype.encode("ascii"), dims, t.raw_bytes()]
    return framed_digest(TENSOR_DIGEST_DOMAIN, parts)


def ordered(tensors: Mapping[str, NamedTensor], names: Sequence[str]) -> list[NamedTensor]:
    """Tensors in the model's declared order, so digests never depend on request order."""
    missing = [n for n in names if n not in tensors]
    if missing:
        raise TensorError(f"missing tensors {missing}; expected {list(names)}")
    extra = sorted(set(tensors) - set(names))
    if extra:
        raise TensorError(f"unexpected tensors {quote(extra)}; expected {list(names)}")
    return [tensors[n] for n in names]
