"""Conversion between Open Inference Protocol messages and NamedTensors.

The gateway decodes requests and the client decodes responses with the same code, so a tensor
means the same thing on both ends; every malformed case raises TensorError with a message that
says what was wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from zkgate.core.documents import quote
from zkgate.core.tensors import NamedTensor, TensorError, element_count, numpy_dtype
from zkgate.wire import open_inference_pb2 as oip

# Which InferTensorContents field carries each datatype when raw bytes are not used.
_CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}


class _TensorMessage(Protocol):
    name: str
    datatype: str

    @property
    def shape(self) -> Sequence[int]: ...

    @property
    def contents(self) -> oip.InferTensorContents: ...


def decode_tensors(
    messages: Sequence[_TensorMessage], raw_contents: Sequence[bytes]
) -> list[NamedTensor]:
    """Decode input or output tensors from either raw bytes or typed contents."""
    if raw_contents and len(raw_contents) != len(messages):
        raise TensorError(
            f"{len(raw_contents)} raw content entries for {len(messages)} tensors; "
            "send one raw entry per tensor, in order"
        )
    tensors: list[NamedTensor] = []
    seen: set[str] = set()
    for index, msg in enumerate(messages):
        if msg.name in seen:
            raise TensorError(f"tensor {quote(msg.name)} appears twice")
        seen.add(msg.name)
        shape = tuple(int(d) for d in msg.shape)
        if not raw_contents:
            tensors.append(_typed_tensor(msg, shape))
            continue
        if msg.contents.ByteSize():
            raise TensorError(
                f"tensor {quote(msg.name)} has both raw and typed contents; send only one"
            )
        tensors.append(NamedTensor.from_raw(msg.name, msg.datatype, shape, raw_contents[index]))
    return tensors


def _typed_tensor(msg: _TensorMessage, shape: tuple[int, ...]) -> NamedTensor:
    dtype = numpy_dtype(msg.datatype)
    count = element_count(shape, f"tensor {quote(msg.name)}")
    field = _CONTENTS_FIELD.get(msg.datatype)
    if field is None:
        raise TensorError(
            f"tensor {quote(msg.name)}: {msg.datatype} can only travel as raw contents"
        )
    values: Any = getattr(msg.contents, field)
    if len(values) != count:
        raise TensorError(
            f"tensor {quote(msg.name)}: {len(values)} values in {field}, but shape "
            f"{list(shape)} needs {count}"
        )
    array = np.asarray(values, dtype=dtype).reshape(shape)
    return NamedTensor(name=msg.name, datatype=msg.datatype, array=array)


def encode_input(request: oip.ModelInferRequest, tensor: NamedTensor) -> None:
    """Append one input as raw bytes, the form every OIP server must accept."""
    request.inputs.add(name=tensor.name, datatype=tensor.datatype, shape=list(tensor.shape))
    request.raw_input_contents.append(tensor.raw_bytes())


def encode_output(response: oip.ModelInferResponse, tensor: NamedTensor) -> None:
    """Append one output as raw bytes: tritonclient's as_numpy() reads only raw contents."""
    response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=list(tensor.shape))
    response.raw_output_contents.append(tensor.raw_bytes())
