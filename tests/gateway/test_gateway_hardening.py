"""The gateway abused (issue 12): every malformed request gets its documented status and a
message a person can act on, the server keeps serving, and damaged artifacts are named.

All against the session's real gateway process over a socket, with the bundled model.
"""

from __future__ import annotations

import io
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.fixtures.gateway_fixtures import (
    DIGITS,
    RegisteredModel,
    RunningGateway,
    model_infer,
)
from zkgate.client import ProofJobFailed
from zkgate.client.connection import OIP_PATH
from zkgate.core.card import ModelCard
from zkgate.gateway.model_runtime import quantizable_bound
from zkgate.gateway.servicers.status_codes import MAX_STATUS_MESSAGE_BYTES
from zkgate.prover.artifacts.backend import DirectoryBackend
from zkgate.prover.artifacts.local_cache import CacheAccess, LocalCache
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.wire import open_inference_pb2 as oip
from zkgate.wire import zkgate_pb2 as pb
from zkgate.wire import zkgate_pb2_grpc

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def channel(gateway: RunningGateway) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(
        gateway.target, options=[("grpc.max_send_message_length", 64 * MiB)]
    ) as ch:
        yield ch


@pytest.fixture(scope="module")
def card(gateway: RunningGateway, digits: RegisteredModel) -> ModelCard:
    with gateway.client() as client:
        return client.bundle(digits.name).card


def infer_request(
    array: np.ndarray, *, shape: list[int] | None = None, prove: bool = False
) -> oip.ModelInferRequest:
    request = oip.ModelInferRequest(model_name="digits", id=uuid.uuid4().hex)
    request.inputs.add(name="input", datatype="FP32", shape=shape or list(array.shape))
    request.raw_input_contents.append(np.ascontiguousarray(array, dtype="<f4").tobytes())
    if prove:
        request.parameters["zkgate.prove"].bool_param = True
    return request


def refusal(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    return info.value.code(), info.value.details() or ""


@pytest.fixture
def still_serves(
    channel: grpc.Channel, digits: RegisteredModel, digits_inputs: np.ndarray
) -> Iterator[None]:
    """After the abuse, an honest request gets the same answer as before it."""
    honest = infer_request(digits_inputs[0])
    before = model_infer(channel, honest).raw_output_contents[0]
    yield
    assert model_infer(channel, honest).raw_output_contents[0] == before


def signed_receipt(channel: grpc.Channel, sample: np.ndarray) -> str:
    response = model_infer(channel, infer_request(sample))
    return response.parameters["zkgate.receipt"].string_param


def request_proof(channel: grpc.Channel, receipt: str, request: oip.ModelInferRequest) -> pb.Job:
    stub = zkgate_pb2_grpc.ProofServiceStub(channel)
    job: pb.Job = stub.RequestProof(
        pb.RequestProofRequest(receipt=receipt, request=request), timeout=30
    )
    return job


# -- non-finite and unquantizable inputs ----------------------------------------------------


def unprovable_values(card: ModelCard) -> list[tuple[str, float, str]]:
    bound = quantizable_bound(card.input_scale)
    return [
        ("nan", float("nan"), "NaN or infinite"),
        ("+inf", float("inf"), "NaN or infinite"),
        ("-inf", float("-inf"), "NaN or infinite"),
        # float32 reaches 3.4e38; the quantizer stops at 2^(127 - scale).
        ("too large", -float(np.float32(bound)), "magnitude"),
    ]


@pytest.mark.usefixtures("still_serves")
def test_unprovable_inputs_are_refused_before_inference(
    channel: grpc.Channel, card: ModelCard, digits_inputs: np.ndarray
) -> None:
    for label, value, reason in unprovable_values(card):
        sample = digits_inputs[1].astype(np.float32).copy()
        sample[0, 5] = value
        code, message = refusal(model_infer, channel, infer_request(sample))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, label
        assert reason in message and "'input'" in message, (label, message)


@pytest.mark.usefixtures("still_serves")
def test_unprovable_inputs_are_refused_at_request_proof(
    channel: grpc.Channel, card: ModelCard, digits_inputs: np.ndarray
) -> None:
    """With a genuine receipt: the refusal names the values, not a digest mismatch."""
    receipt = signed_receipt(channel, digits_inputs[2])
    for label, value, reason in unprovable_values(card):
        sample = digits_inputs[2].astype(np.float32).copy()
        sample[0, 9] = value
        code, message = refusal(request_proof, channel, receipt, infer_request(sample))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, label
        assert reason in message, (label, message)


def test_the_quantizer_bound_is_ezkls() -> None:
    """The bound the gateway enforces is where ezkl's quantizer stops (measured, not assumed)."""
    import ezkl

    for scale in (0, 7, 13):
        bound = quantizable_bound(scale)
        ezkl.float_to_felt(float(np.nextafter(bound, 0)), scale, ezkl.PyInputType.F64)
        with pytest.raises(OSError):
            ezkl.float_to_felt(float(np.nextafter(bound, np.inf)), scale, ezkl.PyInputType.F64)


# -- shapes and arrays that used to answer INTERNAL -----------------------------------------


@pytest.mark.usefixtures("still_serves")
def test_shapes_whose_element_count_overflows_are_refused(channel: grpc.Channel) -> None:
    raw = oip.ModelInferRequest(model_name="digits")
    raw.inputs.add(name="input", datatype="FP32", shape=[2**32, 2**32])
    raw.raw_input_contents.append(b"")
    typed = oip.ModelInferRequest(model_name="digits")
    typed.inputs.add(name="input", datatype="FP32", shape=[2**32, 2**32])
    for request in (raw, typed):
        code, message = refusal(model_infer, channel, request)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "spans more than" in message


@pytest.mark.usefixtures("still_serves")
def test_more_dimensions_than_numpy_takes_are_refused(channel: grpc.Channel) -> None:
    request = infer_request(np.zeros(1, dtype=np.float32), shape=[1] * 65)
    for call in (
        lambda: model_infer(channel, request),
        lambda: request_proof(channel, "{}", request),
    ):
        code, message = refusal(call)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "65 dimensions; at most 32" in message


def npz_bytes() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, rows=np.zeros((4, 64), dtype=np.float32))
    return buffer.getvalue()


@pytest.mark.usefixtures("still_serves")
@pytest.mark.parametrize(
    "archive", [npz_bytes(), b"PK\x03\x04" + bytes(64)], ids=["npz", "zip-header"]
)
def test_archives_are_refused_where_arrays_are_expected(
    channel: grpc.Channel, archive: bytes
) -> None:
    models = zkgate_pb2_grpc.ModelServiceStub(channel)
    accuracy = zkgate_pb2_grpc.AccuracyServiceStub(channel)
    retrieval = zkgate_pb2_grpc.RetrievalServiceStub(channel)
    labels = io.BytesIO()
    np.save(labels, np.zeros(4, dtype=np.int64))
    calls = {
        "RegisterModel": lambda: models.RegisterModel(
            pb.RegisterModelRequest(
                name="archive-calibration",
                onnx=(DIGITS / "model.onnx").read_bytes(),
                calibration=archive,
            ),
            timeout=30,
        ),
        "RevealTestSet": lambda: accuracy.RevealTestSet(
            pb.RevealTestSetRequest(examples=archive, labels=labels.getvalue()), timeout=30
        ),
        "CommitDataset": lambda: retrieval.CommitDataset(
            pb.CommitDatasetRequest(name="archive-records", records=archive), timeout=30
        ),
    }
    for method, call in calls.items():
        code, message = refusal(call)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (method, message)
        if method == "RegisterModel":
            # Calibration may be an .npz (one array per input): this one is refused as such.
            assert ".npz" in message and ("input" in message or "numpy.savez" in message)
        else:
            assert "not a .npy array" in message and "numpy.save" in message, (method, message)


# -- requests that do not decode --------------------------------------------------------------


def listed_services(channel: grpc.Channel) -> set[str]:
    stub: Any = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (reply,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    return {s.name for s in reply.list_services_response.service}


def undecodable(method: MethodDescriptor, rng: random.Random) -> bytes:
    """Random bytes that the method's request type really refuses (protobuf takes many)."""
    request_type = message_factory.GetMessageClass(method.input_type)
    while True:
        data = rng.randbytes(rng.randint(1, 64))
        try:
            request_type.FromString(data)
        except Exception:
            return data


def send_raw(channel: grpc.Channel, path: str, method: MethodDescriptor, data: bytes) -> None:
    """The bytes as they are: no serializer on the request side, none on the reply side."""
    call: Any
    if method.client_streaming:
        call = channel.stream_stream(path)
        list(call(iter([data]), timeout=10))
    elif method.server_streaming:
        call = channel.unary_stream(path)
        list(call(data, timeout=10))
    else:
        call = channel.unary_unary(path)
        call(data, timeout=10)


@pytest.mark.usefixtures("still_serves")
def test_requests_that_do_not_decode_are_invalid_arguments_on_every_method(
    channel: grpc.Channel,
) -> None:
    pool = descriptor_pool.Default()
    services = {
        name: pool.FindServiceByName(name)
        for name in listed_services(channel) - {"inference.GRPCInferenceService"}
    }
    # The OIP service is listed under the spec's name, which tritonclient owns in this
    # process's pool: its methods are read from our own messages, sent on the spec's path.
    routes = [
        (f"/{name}/{method.name}", method)
        for name, service in services.items()
        for method in service.methods
    ] + [
        (OIP_PATH + method.name, method)
        for method in pool.FindServiceByName("zkgate.oip.v2.GRPCInferenceService").methods
    ]
    assert len(routes) >= 30
    rng = random.Random(12)
    for path, method in routes:
        for _ in range(3):
            code, message = refusal(send_raw, channel, path, method, undecodable(method, rng))
            assert code == grpc.StatusCode.INVALID_ARGUMENT, (path, code, message)
            assert f"request is not a valid {method.input_type.full_name}" in message, path


# -- echoes of untrusted values ---------------------------------------------------------------


@pytest.mark.usefixtures("still_serves")
def test_a_megabyte_value_is_not_echoed_back(channel: grpc.Channel) -> None:
    huge = "x" * MiB
    proofs = zkgate_pb2_grpc.ProofServiceStub(channel)
    models = zkgate_pb2_grpc.ModelServiceStub(channel)
    calls = {
        "GetJob": lambda: proofs.GetJob(pb.GetJobRequest(job_id=huge), timeout=30),
        "ModelInfer": lambda: model_infer(channel, oip.ModelInferRequest(model_name=huge)),
        # Quoted in full by the catalogue's own message: the status's cap is what holds here.
        "RegisterModel": lambda: models.RegisterModel(
            pb.RegisterModelRequest(
                name=huge,
                onnx=(DIGITS / "model.onnx").read_bytes(),
                calibration=(DIGITS / "calibration.npy").read_bytes(),
            ),
            timeout=30,
        ),
    }
    expected = {
        "GetJob": grpc.StatusCode.NOT_FOUND,
        "ModelInfer": grpc.StatusCode.NOT_FOUND,
        "RegisterModel": grpc.StatusCode.INVALID_ARGUMENT,
    }
    for method, call in calls.items():
        code, message = refusal(call)
        assert code == expected[method], (method, code, message[:200])
        assert len(message.encode("utf-8")) <= MAX_STATUS_MESSAGE_BYTES, method
        assert "xxxx" in message, method


# -- damaged artifacts ------------------------------------------------------------------------


def flip_a_bit(path: Path) -> None:
    with path.open("r+b") as f:
        f.seek(path.stat().st_size // 2)
        byte = f.read(1)[0]
        f.seek(-1, io.SEEK_CUR)
        f.write(bytes([byte ^ 0x10]))


def prove_fresh_input(
    gateway: RunningGateway, channel: grpc.Channel, digits_inputs: np.ndarray
) -> pb.Job:
    """A proof of an input no other test proved (jobs are idempotent per input)."""
    sample = digits_inputs[4].astype(np.float32) + np.float32(random.random() / 8)
    response = model_infer(channel, infer_request(sample, prove=True))
    job_id = response.parameters["zkgate.proof_job"].string_param
    stub = zkgate_pb2_grpc.ProofServiceStub(channel)
    *_, last = stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=600)
    job: pb.Job = last
    return job


def test_a_corrupted_proving_key_is_named_and_not_used(
    gateway: RunningGateway,
    channel: grpc.Channel,
    card: ModelCard,
    digits_inputs: np.ndarray,
) -> None:
    digest = card.artifacts["pk"]
    stored = gateway.data_dir / "artifacts" / "sha256" / digest[:2] / digest[2:]
    flip_a_bit(stored)
    try:
        failed = prove_fresh_input(gateway, channel, digits_inputs)
    finally:
        flip_a_bit(stored)
    assert failed.state == pb.JOB_STATE_FAILED
    assert f"pk artifact {digest} is corrupted" in failed.error
    assert failed.attempts == 1  # refused at once: retrying cannot mend the stored key
    # Restored, the key is checked anew and proofs go through again.
    assert prove_fresh_input(gateway, channel, digits_inputs).state == pb.JOB_STATE_SUCCEEDED


def test_a_damaged_cached_copy_is_downloaded_again(tmp_path: Path) -> None:
    """A prover's local copy of a shared store's key, damaged on its disk, is checked by the
    next process that uses it, replaced by a fresh download and never handed out."""
    shared = DirectoryBackend(tmp_path / "shared")
    data = random.Random(5).randbytes(MiB)
    digest = ArtifactStore(shared).put_bytes(data)

    def prover_store(accesses: list[CacheAccess]) -> ArtifactStore:
        cache = LocalCache(tmp_path / "cache", max_bytes=16 * MiB, on_access=accesses.append)
        return ArtifactStore(shared, cache=cache)

    first: list[CacheAccess] = []
    with prover_store(first).local_file(digest) as copy:
        flip_a_bit(copy)
    later: list[CacheAccess] = []
    with prover_store(later).local_file(digest) as copy:
        assert copy.read_bytes() == data
    assert [access.hit for access in first + later] == [False, False]


# -- SRS files named by a registration --------------------------------------------------------


@pytest.mark.usefixtures("still_serves")
def test_an_srs_path_outside_the_srs_directory_is_refused_at_the_call(
    gateway: RunningGateway, channel: grpc.Channel
) -> None:
    models = zkgate_pb2_grpc.ModelServiceStub(channel)
    for outside in ("/etc/passwd", "../zkgate.db", str(gateway.data_dir / "srs" / ".." / "x")):
        request = pb.RegisterModelRequest(
            name="outside-srs",
            onnx=(DIGITS / "model.onnx").read_bytes(),
            calibration=(DIGITS / "calibration.npy").read_bytes(),
            srs_path=outside,
            srs_sha256="0" * 64,
        )
        code, message = refusal(models.RegisterModel, request, timeout=30)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (outside, message)
        assert "inside the provers' SRS directory" in message
        assert str(gateway.data_dir) not in message


def test_a_missing_srs_file_fails_its_registration_without_naming_server_paths(
    gateway: RunningGateway,
) -> None:
    with gateway.client() as client:
        response = client.register_model(
            "missing-srs",
            DIGITS / "model.onnx",
            DIGITS / "calibration.npy",
            srs_path="no-such-ceremony.srs",
            srs_sha256="0" * 64,
        )
        with pytest.raises(ProofJobFailed) as failed:
            client.wait_for_job(response.job_id, timeout=600)
        model = client.model("missing-srs")
    job = failed.value.job
    assert job.state == pb.JOB_STATE_FAILED
    assert "'no-such-ceremony.srs' does not exist" in job.error
    for text in (job.error, model.error):
        assert str(gateway.data_dir) not in text


# -- reflection -------------------------------------------------------------------------------


def test_reflection_lists_every_registered_service(channel: grpc.Channel) -> None:
    zkgate_services = {s.full_name for s in pb.DESCRIPTOR.services_by_name.values()}
    assert "zkgate.v1.RetrievalService" in zkgate_services
    assert listed_services(channel) == {
        *zkgate_services,
        "inference.GRPCInferenceService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


def test_health_reports_on_every_registered_service(channel: grpc.Channel) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stub: Any = health_pb2_grpc.HealthStub(channel)
    for service in ("zkgate.v1.RetrievalService", "zkgate.v1.AccuracyService"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, service
