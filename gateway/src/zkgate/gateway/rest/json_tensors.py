"""Tensors in the JSON of the OIP's REST half, and in Triton's binary-data extension.

A REST request carries each input as a JSON array (flat or nested, row-major), or with the
binary-data extension as raw little-endian bytes after the JSON header. Both are read into the
same NamedTensor the gRPC half decodes, so receipts digest the same bytes whichever half served.
Values are checked rather than cast: 1.5 sent as an INT32 is refused, not truncated to 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zkgate.core.documents import Fields, quote
from zkgate.core.tensors import NamedTensor, TensorError, element_count, numpy_dtype
from zkgate.gateway.errors import InvalidRequest

BINARY_SIZE = "binary_data_size"
# Request parameters asking for binary outputs: for all outputs, or per requested output.
BINARY_OUTPUT = "binary_data_output"
BINARY_DATA = "binary_data"


# The JSON value kinds (numpy's, as np.asarray reads them) each datatype kind accepts.
_ACCEPTED = {"b": ("b", "true/false"), "i": ("iu", "integers"), "u": ("iu", "integers")}
_ACCEPTED_FLOAT = ("iuf", "numbers")


def _values(name: str, datatype: str, shape: Sequence[int], data: object) -> NamedTensor:
    dtype = numpy_dtype(datatype)
    try:
        given = np.asarray(data)
    except ValueError as exc:  # ragged nesting
        raise InvalidRequest(f"input {quote(name)}: data is not a rectangular array") from exc
    kinds, wanted = _ACCEPTED.get(dtype.kind, _ACCEPTED_FLOAT)
    if given.size and given.dtype.kind not in kinds:
        raise InvalidRequest(f"input {quote(name)}: {datatype} data must be {wanted}")
    expected = element_count(shape, f"input {quote(name)}")
    if given.size != expected:
        raise InvalidRequest(
            f"input {quote(name)}: shape {list(shape)} needs {expected} values, data holds "
            f"{given.size}"
        )
    array = given.astype(dtype)
    if dtype.kind in "iu" and not np.array_equal(array, given):
        raise InvalidRequest(f"input {quote(name)}: values do not fit {datatype}")
    return NamedTensor(name=name, datatype=datatype, array=array.reshape(tuple(shape)))


@dataclass
class BinaryBody:
    """The bytes after the JSON header, handed out in input order."""

    data: bytes
    offset: int = 0

    def take(self, name: str, size: int) -> bytes:
        if size < 0 or self.offset + size > len(self.data):
            raise InvalidRequest(
                f"input {quote(name)}: {BINARY_SIZE} {size} runs past the {len(self.data)} "
                "bytes of binary data"
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def check_used(self) -> None:
        if self.offset != len(self.data):
            raise InvalidRequest(
                f"{len(self.data) - self.offset} bytes of binary data belong to no input"
            )


def decode_inputs(request: Fields, binary: BinaryBody) -> list[NamedTensor]:
    tensors = []
    for entry in request.objects("inputs"):
        name, datatype, shape = entry.text("name"), entry.text("datatype"), entry.counts("shape")
        parameters = entry.optional_object("parameters")
        try:
            if parameters is not None and BINARY_SIZE in parameters:
                raw = binary.take(name, parameters.count(BINARY_SIZE))
                tensors.append(NamedTensor.from_raw(name, datatype, shape, raw))
            else:
                tensors.append(_values(name, datatype, shape, entry.any("data")))
        except TensorError as exc:
            raise InvalidRequest(str(exc)) from exc
    binary.check_used()
    return tensors


def encode_output(tensor: NamedTensor, binary: bool) -> tuple[dict[str, Any], bytes]:
    """The output's JSON entry and, with binary, the bytes that follow the JSON header."""
    entry: dict[str, Any] = {
        "name": tensor.name,
        "datatype": tensor.datatype,
        "shape": list(tensor.shape),
    }
    if binary:
        raw = tensor.raw_bytes()
        entry["parameters"] = {BINARY_SIZE: len(raw)}
        return entry, raw
    entry["data"] = tensor.array.ravel().tolist()
    return entry, b""
