"""Every RPC of a real gateway (real socket, real prover), fed random bytes and well-typed but
hostile messages, answers with a documented status and keeps serving.

Documented statuses are those gateway/status.py maps domain errors to: INVALID_ARGUMENT,
NOT_FOUND, FAILED_PRECONDITION, ALREADY_EXISTS, RESOURCE_EXHAUSTED, PERMISSION_DENIED,
UNAUTHENTICATED (and OK). UNKNOWN (an exception escaped, or the request did not decode) and
INTERNAL (an unmapped exception) are bugs; so are a hang and a dead server. Error messages must
stay short: a message that echoes a megabyte overflows the caller's metadata limit.

Registrations the fuzzer manages to queue are capped: model names come from a pool of four and
ONNX bytes are never a real model, so at most four cheap registration jobs fail in the prover.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from fuzz.seeds import Seeds
from tests.fixtures.gateway_fixtures import RegisteredModel, RunningGateway
from zkgate.client.connection import OIP_PATH
from zkgate.wire import open_inference_pb2 as oip
from zkgate.wire import zkgate_pb2 as pb

DOCUMENTED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
}
MAX_DETAILS = 4096
CALL_TIMEOUT = 30
MESSAGE_BYTES = 64 * 1024 * 1024
REGISTRATION_NAMES = [f"fuzz-reg-{i}" for i in range(4)]


def _methods() -> dict[str, tuple[str, type[Message], bool]]:
    """Every RPC: its wire path, request class and whether it streams."""
    found: dict[str, tuple[str, type[Message], bool]] = {}
    for module, prefix in ((pb, None), (oip, OIP_PATH)):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                path = (prefix or f"/{service.full_name}/") + method.name
                request_class = getattr(module, method.input_type.name)
                found[method.name] = (path, request_class, method.server_streaming)
    return found


METHODS = _methods()


@pytest.fixture(scope="module")
def channel(gateway: RunningGateway) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(
        gateway.target,
        options=[
            ("grpc.max_send_message_length", MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MESSAGE_BYTES),
        ],
    ) as ch:
        yield ch


def _raw_call(channel: grpc.Channel, method: str, payload: bytes) -> tuple[grpc.StatusCode, str]:
    """Sends payload as the request's bytes; returns the status and its message."""
    path, _, streaming = METHODS[method]
    identity: Callable[[bytes], bytes] = lambda b: b  # noqa: E731
    try:
        if streaming:
            stream = channel.unary_stream(
                path, request_serializer=identity, response_deserializer=identity
            )
            for _ in stream(payload, timeout=CALL_TIMEOUT):
                pass
        else:
            unary = channel.unary_unary(
                path, request_serializer=identity, response_deserializer=identity
            )
            unary(payload, timeout=CALL_TIMEOUT)
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def _still_serves(channel: grpc.Channel) -> None:
    identity = channel.unary_unary(
        "/zkgate.v1.ModelService/GetServerIdentity",
        request_serializer=pb.GetServerIdentityRequest.SerializeToString,
        response_deserializer=pb.ServerIdentity.FromString,
    )
    reply = identity(pb.GetServerIdentityRequest(), timeout=CALL_TIMEOUT)
    assert reply.receipt_public_key, "the gateway stopped answering"


def _check(channel: grpc.Channel, method: str, payload: bytes) -> None:
    code, details = _raw_call(channel, method, payload)
    assert code in DOCUMENTED, f"{method} answered {code.name}: {details[:500]!r}"
    assert len(details) <= MAX_DETAILS, f"{method} echoed {len(details):,} characters"
    _still_serves(channel)


# -- random bytes -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(METHODS))
@given(payload=st.binary(min_size=1, max_size=512))
def test_random_bytes_get_a_documented_status(
    method: str, payload: bytes, channel: grpc.Channel
) -> None:
    """Bytes that are (almost always) not the request message: INVALID_ARGUMENT, not UNKNOWN."""
    _check(channel, method, payload)


# -- well-typed, hostile messages -----------------------------------------------------------------

HOSTILE_TEXT = [
    "",
    "digits",
    "fuzz-reg-0",
    "../../../etc/passwd",
    "/abs/path.srs",
    "00" * 32,
    "zz" * 32,
    "0.05",
    "NaN",
    "-1",
    "²",
    "\x00",
    "{}",
    "[" * 1000,
    '{"body": {}, "signature": ""}',
    "x" * (1 << 20),
]
HOSTILE_INTEGERS = [0, 1, 2, 63, 64, 65, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1]
HOSTILE_SHAPES = [
    [2**32, 2**32],
    [2**63 - 1, 2],
    [-1, 64],
    [1, -64],
    [0],
    [],
    [1] * 65,
    [1] * 200,
    [1, 64],
    [64],
    [2**31, 2**31, 4],
]
_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_ENUM: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _integers(field: FieldDescriptor) -> st.SearchStrategy[int]:
    low, high = _RANGES[field.type]
    extremes = [v for v in (*HOSTILE_INTEGERS, -1, -(2**31), low, high) if low <= v <= high]
    return st.one_of(st.sampled_from(extremes), st.integers(low, high))


def _scalar(field: FieldDescriptor, blobs: list[bytes]) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_STRING:
        return st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=40))
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.one_of(st.sampled_from(blobs), st.binary(max_size=256))
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        width = 32 if field.type == FieldDescriptor.TYPE_FLOAT else 64
        return st.floats(width=width, allow_nan=True, allow_infinity=True)
    return _integers(field)


@st.composite
def hostile_message(
    draw: st.DrawFn, descriptor: Descriptor, blobs: list[bytes], depth: int = 0
) -> Message:
    """Any message of this type, fields set (or not) to values parsers mishandle."""
    message: Any = _message_class(descriptor)()
    for field in descriptor.fields:
        if not draw(st.booleans()):
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            for _ in range(draw(st.integers(0, 2))):
                key = draw(_scalar(key_field, blobs))
                if value_field.message_type is not None:
                    if depth < 3:
                        value = draw(hostile_message(value_field.message_type, blobs, depth + 1))
                        getattr(message, field.name)[key].CopyFrom(value)
                else:
                    getattr(message, field.name)[key] = draw(_scalar(value_field, blobs))
            continue
        if field.message_type is not None:
            if depth >= 3:
                continue
            values = [
                draw(hostile_message(field.message_type, blobs, depth + 1))
                for _ in range(draw(st.integers(1, 2)) if _repeated(field) else 1)
            ]
            if _repeated(field):
                getattr(message, field.name).extend(values)
            else:
                getattr(message, field.name).CopyFrom(values[0])
            continue
        if _repeated(field):
            if field.name == "shape":
                getattr(message, field.name).extend(draw(st.sampled_from(HOSTILE_SHAPES)))
            else:
                values = draw(st.lists(_scalar(field, blobs), max_size=4))
                getattr(message, field.name).extend(values)
            continue
        setattr(message, field.name, draw(_scalar(field, blobs)))
    return message  # type: ignore[no-any-return]


def _repeated(field: FieldDescriptor) -> bool:
    return field.label == FieldDescriptor.LABEL_REPEATED


def _message_class(descriptor: Descriptor) -> type[Message]:
    for module in (pb, oip):
        if descriptor.file.name == module.DESCRIPTOR.name:
            cls: Any = module
            for part in descriptor.full_name[len(descriptor.file.package) + 1 :].split("."):
                cls = getattr(cls, part)
            return cls  # type: ignore[no-any-return]
    raise LookupError(descriptor.full_name)


def _blobs(seeds: Seeds) -> list[bytes]:
    """Bytes fields get real files (.npy of the digits example and of a test set, an .npz where
    an .npy belongs, a proof-of-learning archive) as often as random ones."""
    documents = seeds.documents
    return [
        b"",
        documents["npy_calibration"],
        documents["npy_test_inputs"],
        documents["npy_test_labels"],
        documents["npy_examples"],
        documents["npy_zip"],
        b"PK\x03\x04" + bytes(60),
        documents["learning_archive"],
        documents["proof"],
        _npy_header((2**32, 2**32)),
        _npy_header((2**63 - 1,)),
        _npy_header((1,) * 70),
    ]


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A .npy header promising `shape`, with no data behind it."""
    buffer = io.BytesIO()
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def _tame(method: str, message: Any) -> Any:
    """Keeps what the fuzzer can queue cheap: four registration names, never a real ONNX; and
    keeps the calls that change models (removal, the default version) to those four names, off
    the session's shared models."""
    if method in ("RegisterModel", "RemoveModel", "SetDefaultVersion"):
        message.name = REGISTRATION_NAMES[len(message.name) % len(REGISTRATION_NAMES)]
    if method == "RegisterModel" and (
        message.onnx[:2] == b"\x08\x07" or not message.onnx  # an ONNX ModelProto's start
    ):
        message.onnx = b"not an onnx model"
    return message


@pytest.mark.parametrize("method", sorted(METHODS))
@given(data=st.data())
def test_hostile_messages_get_a_documented_status(
    method: str, data: st.DataObject, channel: grpc.Channel, fuzz_seeds: Seeds
) -> None:
    _, request_class, _ = METHODS[method]
    message = data.draw(hostile_message(request_class.DESCRIPTOR, _blobs(fuzz_seeds)))
    _check(channel, method, _tame(method, message).SerializeToString())


# -- inference requests aimed at a real model -----------------------------------------------------

DATATYPES = ["FP32", "FP64", "FP16", "INT64", "UINT8", "BOOL", "BYTES", "fp32", ""]


@st.composite
def hostile_infer_request(draw: st.DrawFn, model: str, sample: np.ndarray) -> oip.ModelInferRequest:
    """A request to a served model: its real input name, hostile shapes and datatypes, raw
    contents of the right length, the wrong length, or typed contents."""
    request = oip.ModelInferRequest(model_name=draw(st.sampled_from([model, model, "nope", ""])))
    raw = draw(st.booleans())
    for _ in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from(["input", "input", "x", ""]))
        datatype = draw(st.sampled_from(DATATYPES))
        shape = draw(st.one_of(st.sampled_from(HOSTILE_SHAPES), st.just(list(sample.shape))))
        tensor = request.inputs.add(name=name, datatype=datatype, shape=shape)
        values = draw(
            st.sampled_from(
                [
                    sample.astype(np.float32),
                    np.full(sample.shape, np.nan, np.float32),
                    np.full(sample.shape, np.inf, np.float32),
                    np.full(sample.shape, 3e38, np.float32),
                    sample.astype(np.float32)[..., :3],
                ]
            )
        )
        if raw:
            request.raw_input_contents.append(values.tobytes())
        else:
            tensor.contents.fp32_contents.extend(float(v) for v in values.ravel())
    if draw(st.booleans()):
        request.parameters[draw(st.sampled_from(["prove", "zkgate.prove", "x"]))].bool_param = True
    return request


@given(data=st.data())
def test_hostile_inference_requests_to_a_served_model(
    data: st.DataObject,
    channel: grpc.Channel,
    digits: RegisteredModel,
    digits_inputs: np.ndarray,
) -> None:
    request = data.draw(hostile_infer_request(digits.name, digits_inputs[:1]))
    _check(channel, "ModelInfer", request.SerializeToString())


@given(data=st.data())
def test_hostile_proof_requests_for_a_served_model(
    data: st.DataObject,
    channel: grpc.Channel,
    digits: RegisteredModel,
    digits_inputs: np.ndarray,
    fuzz_seeds: Seeds,
) -> None:
    """RequestProof carries a receipt and the inference request it answered."""
    inner = data.draw(hostile_infer_request(digits.name, digits_inputs[:1]))
    receipt = data.draw(
        st.sampled_from(
            [fuzz_seeds.documents["receipt"].decode(), "", "{}", "[" * 100_000, "x" * (1 << 20)]
        )
    )
    request = pb.RequestProofRequest(receipt=receipt, request=inner)
    _check(channel, "RequestProof", request.SerializeToString())
