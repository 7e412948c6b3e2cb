"""Entry points of the tensor readers: raw tensor contents, Open Inference requests off the wire,
and .npy files (held-out test sets, datasets, rows)."""

from __future__ import annotations

from fuzz.entries.entry import EntryPoint
from fuzz.seeds import Seeds
from zkgate.core.array_rows import RowsError, load_npy
from zkgate.core.dataset import Dataset
from zkgate.core.held_out_set import TestSet, TestSetError
from zkgate.core.npz_arrays import load_npy_or_npz
from zkgate.core.oip_codec import decode_tensors
from zkgate.core.tensors import NamedTensor, TensorError
from zkgate.wire import open_inference_pb2 as oip

_DATATYPES = ("BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64")
_DATATYPES += ("FP16", "FP32", "FP64", "BYTES", "", "fp32")


def tensor_from_raw(data: bytes, ctx: Seeds) -> object:
    """NamedTensor.from_raw over a datatype, a shape of signed 64-bit dimensions (any rank up
    to 72) and the rest as contents, all taken from the input."""
    if len(data) < 2:
        return None
    datatype = _DATATYPES[data[0] % len(_DATATYPES)]
    rank = data[1] % 73
    body = data[2:]
    shape = [
        int.from_bytes(body[8 * i : 8 * i + 8].ljust(8, b"\0"), "little", signed=True) % (1 << 64)
        if data[0] & 0x80
        else int.from_bytes(body[8 * i : 8 * i + 8].ljust(8, b"\0"), "little", signed=True)
        for i in range(rank)
    ]
    if data[0] & 0x40:  # small dimensions, so that contents can match
        shape = [d % 5 for d in shape]
    return NamedTensor.from_raw("t", datatype, shape, body[8 * rank :])


def oip_decode_request(data: bytes, ctx: Seeds) -> object:
    """decode_tensors over whatever a ModelInferRequest on the wire decodes to (the protobuf
    decoding itself is protobuf's; bytes it refuses are skipped by the caller)."""
    request = oip.ModelInferRequest()
    try:
        request.ParseFromString(data)
    except Exception:  # protobuf's DecodeError: not the codec's concern
        return None
    return decode_tensors(request.inputs, request.raw_input_contents)


def test_set_from_npy(data: bytes, ctx: Seeds) -> object:
    return TestSet.from_npy(data, ctx.documents["npy_labels"])


def test_set_labels_from_npy(data: bytes, ctx: Seeds) -> object:
    return TestSet.from_npy(ctx.documents["npy_examples"], data)


def dataset_from_npy(data: bytes, ctx: Seeds) -> object:
    return Dataset.from_npy(data)


def rows_load_npy(data: bytes, ctx: Seeds) -> object:
    return load_npy(data, "rows")


def arrays_load_npy_or_npz(data: bytes, ctx: Seeds) -> object:
    return load_npy_or_npz(data, "calibration data")


TENSOR_ENTRIES: tuple[EntryPoint, ...] = (
    EntryPoint(
        "tensor_raw", ("tensor_raw",), tensor_from_raw, (TensorError,), "zkgate.core.tensors"
    ),
    EntryPoint(
        "test_set_examples_npy",
        ("npy_examples", "npy_test_inputs", "npy_zip"),
        test_set_from_npy,
        (TestSetError,),
        "zkgate.core.held_out_set + zkgate.core.array_rows",
    ),
    EntryPoint(
        "test_set_labels_npy",
        ("npy_labels", "npy_test_labels"),
        test_set_labels_from_npy,
        (TestSetError,),
        "zkgate.core.held_out_set + zkgate.core.array_rows",
    ),
    EntryPoint(
        "dataset_npy",
        ("npy_records", "npy_calibration", "npy_zip"),
        dataset_from_npy,
        (RowsError,),
        "zkgate.core.dataset + zkgate.core.array_rows",
    ),
    EntryPoint(
        "load_npy",
        ("npy_calibration", "npy_test_labels", "npy_zip"),
        rows_load_npy,
        (RowsError,),
        "zkgate.core.array_rows",
    ),
    EntryPoint(
        "load_npy_or_npz",
        ("npy_zip", "npy_calibration"),
        arrays_load_npy_or_npz,
        (RowsError,),
        "zkgate.core.npz_arrays + zkgate.core.array_rows",
    ),
    EntryPoint(
        "oip_decode",
        ("oip_request", "oip_request_typed"),
        oip_decode_request,
        (TensorError,),
        "zkgate.core.oip_codec + zkgate.core.tensors",
    ),
)
