"""Bad requests get the right status and an actionable message, and the server keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from tests.fixtures.gateway_fixtures import (
    DIGITS,
    RegisteredModel,
    RunningGateway,
    model_infer,
    start_gateway,
)
from zkgate.client import ProofJobFailed
from zkgate.wire import open_inference_pb2 as oip
from zkgate.wire import zkgate_pb2 as pb
from zkgate.wire import zkgate_pb2_grpc


@pytest.fixture(scope="module")
def channel(gateway: RunningGateway) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(
        gateway.target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ) as ch:
        yield ch


def raw_request(
    array: np.ndarray,
    *,
    model: str = "digits",
    datatype: str = "FP32",
    shape: list[int] | None = None,
    raw: bytes | None = None,
) -> oip.ModelInferRequest:
    request = oip.ModelInferRequest(model_name=model)
    request.inputs.add(name="input", datatype=datatype, shape=shape or list(array.shape))
    request.raw_input_contents.append(array.tobytes() if raw is None else raw)
    return request


def status_of(channel: grpc.Channel, request: oip.ModelInferRequest) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        model_infer(channel, request)
    return info.value.code(), info.value.details() or ""


@pytest.fixture
def still_serves(
    channel: grpc.Channel, digits: RegisteredModel, digits_inputs: np.ndarray
) -> Iterator[None]:
    """After each bad request, a good one still gets the right answer."""
    sample = digits_inputs[0].astype(np.float32)
    before = model_infer(channel, raw_request(sample)).raw_output_contents[0]
    yield
    after = model_infer(channel, raw_request(sample)).raw_output_contents[0]
    assert after == before


@pytest.mark.usefixtures("still_serves")
class TestBadInference:
    def test_wrong_shape(self, channel: grpc.Channel, digits_inputs: np.ndarray) -> None:
        sample = digits_inputs[0].astype(np.float32).reshape(8, 8)
        code, message = status_of(channel, raw_request(sample))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "shape [1, 64]" in message

    def test_wrong_dtype(self, channel: grpc.Channel, digits_inputs: np.ndarray) -> None:
        sample = digits_inputs[0].astype(np.float64)
        code, message = status_of(channel, raw_request(sample, datatype="FP64"))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "FP32" in message

    def test_raw_bytes_of_the_wrong_length(
        self, channel: grpc.Channel, digits_inputs: np.ndarray
    ) -> None:
        sample = digits_inputs[0].astype(np.float32)
        code, message = status_of(channel, raw_request(sample, raw=sample.tobytes()[:-3]))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "253 raw bytes" in message and "needs 256" in message

    def test_unknown_datatype(self, channel: grpc.Channel, digits_inputs: np.ndarray) -> None:
        sample = digits_inputs[0].astype(np.float32)
        code, message = status_of(channel, raw_request(sample, datatype="FP8"))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "unsupported datatype" in message

    def test_unknown_model(self, channel: grpc.Channel, digits_inputs: np.ndarray) -> None:
        code, message = status_of(channel, raw_request(digits_inputs[0], model="nope"))
        assert code == grpc.StatusCode.NOT_FOUND
        assert "nope" in message

    def test_oversized_message(self, channel: grpc.Channel) -> None:
        huge = np.zeros((1, 3 * 1024 * 1024), dtype=np.float32)  # 12 MiB > the 8 MiB limit
        code, _ = status_of(channel, raw_request(huge))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED

    def test_typed_contents_are_accepted_too(
        self, channel: grpc.Channel, digits_inputs: np.ndarray
    ) -> None:
        sample = digits_inputs[0].astype(np.float32)
        request = oip.ModelInferRequest(model_name="digits")
        tensor = request.inputs.add(name="input", datatype="FP32", shape=[1, 64])
        tensor.contents.fp32_contents.extend(sample.ravel().tolist())
        typed = model_infer(channel, request).raw_output_contents[0]
        assert typed == model_infer(channel, raw_request(sample)).raw_output_contents[0]


def test_unknown_job(channel: grpc.Channel) -> None:
    stub = zkgate_pb2_grpc.ProofServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.GetJob(pb.GetJobRequest(job_id="no-such-job"), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as info:
        list(stub.WatchJob(pb.WatchJobRequest(job_id="no-such-job"), timeout=10))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_private_params_are_refused_with_the_reason(channel: grpc.Channel) -> None:
    stub = zkgate_pb2_grpc.ModelServiceStub(channel)
    request = pb.RegisterModelRequest(
        name="private-model",
        onnx=(DIGITS / "model.onnx").read_bytes(),
        calibration=(DIGITS / "calibration.npy").read_bytes(),
        param_visibility="private",
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.RegisterModel(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "do not bind the model" in (info.value.details() or "")


def test_model_that_is_still_registering_is_not_served(
    tmp_path: Path, digits_inputs: np.ndarray
) -> None:
    # A gateway without provers: its registration stays queued, so the model stays registering.
    idle = start_gateway(tmp_path / "idle", workers=0)
    try:
        with idle.client() as client:
            client.register_model("pending", DIGITS / "model.onnx", DIGITS / "calibration.npy")
            assert client.model("pending").state == pb.MODEL_STATE_REGISTERING
        with grpc.insecure_channel(idle.target) as idle_channel:
            code, message = status_of(idle_channel, raw_request(digits_inputs[0], model="pending"))
    finally:
        idle.stop()
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "still registering" in message


def test_model_whose_registration_failed_is_not_served(
    gateway: RunningGateway, channel: grpc.Channel, digits_inputs: np.ndarray
) -> None:
    with gateway.client() as client:
        response = client.register_model(
            "digits-too-small", DIGITS / "model.onnx", DIGITS / "calibration.npy", max_logrows=6
        )
        with pytest.raises(ProofJobFailed) as info:
            client.wait_for_job(response.job_id, timeout=300)
        assert "logrows" in info.value.job.error
        model = client.model("digits-too-small")
    assert model.state == pb.MODEL_STATE_FAILED
    code, message = status_of(channel, raw_request(digits_inputs[0], model="digits-too-small"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "failed to register" in message


def test_bad_model_name_is_refused(channel: grpc.Channel) -> None:
    stub = zkgate_pb2_grpc.ModelServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.RegisterModel(
            pb.RegisterModelRequest(
                name="../escape",
                onnx=(DIGITS / "model.onnx").read_bytes(),
                calibration=(DIGITS / "calibration.npy").read_bytes(),
            ),
            timeout=30,
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid model name" in (info.value.details() or "")


def test_garbage_calibration_is_refused(channel: grpc.Channel) -> None:
    stub = zkgate_pb2_grpc.ModelServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.RegisterModel(
            pb.RegisterModelRequest(
                name="bad-calibration",
                onnx=(DIGITS / "model.onnx").read_bytes(),
                calibration=b"not numpy",
            ),
            timeout=30,
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ".npy" in (info.value.details() or "")


@pytest.mark.parametrize(
    ("fidelity", "tuning", "problem"),
    [
        ("argmax:2", "", "argmax agreement must be in (0, 1]"),
        ("max-abs:nan", "", "max-abs needs a positive finite number"),
        ("top-5", "", "use 'argmax'"),
        ("", "exhaustive", "use one of none, fast, thorough"),
    ],
)
def test_unreadable_fidelity_or_tuning_is_refused_before_any_job(
    channel: grpc.Channel, fidelity: str, tuning: str, problem: str
) -> None:
    stub = zkgate_pb2_grpc.ModelServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.RegisterModel(
            pb.RegisterModelRequest(
                name="bad-tuning",
                onnx=(DIGITS / "model.onnx").read_bytes(),
                calibration=(DIGITS / "calibration.npy").read_bytes(),
                fidelity=fidelity,
                tuning=tuning,
            ),
            timeout=30,
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert problem in (info.value.details() or "")
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetModel(pb.GetModelRequest(name="bad-tuning"), timeout=30)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
