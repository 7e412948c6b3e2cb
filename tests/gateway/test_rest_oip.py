"""The REST half of the Open Inference Protocol, spoken by a stock client (tritonclient.http) and
by raw HTTP requests, against a real gateway process."""

from __future__ import annotations

import http.client
import json
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from tests.fixtures.gateway_fixtures import RegisteredModel, RunningGateway
from zkgate.core.prediction import Prediction
from zkgate.core.receipts import Receipt
from zkgate.core.tensors import NamedTensor


def request(
    gateway: RunningGateway,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """A raw HTTP call; every answer, error or not, must be a JSON object."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.rest_port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        payload = response.read()
        assert response.getheader("Content-Type", "").startswith("application/json"), payload
        document = json.loads(payload)
        assert isinstance(document, dict)
        return response.status, document
    finally:
        connection.close()


def infer_body(sample: np.ndarray, **extra: Any) -> bytes:
    return json.dumps(
        {
            "inputs": [
                {"name": "input", "datatype": "FP32", "shape": [1, 64], "data": sample.tolist()}
            ],
            **extra,
        }
    ).encode()


def test_health_and_metadata(gateway: RunningGateway, digits: RegisteredModel) -> None:
    assert request(gateway, "GET", "/v2/health/live") == (200, {"live": True})
    assert request(gateway, "GET", "/v2/health/ready") == (200, {"ready": True})
    status, server = request(gateway, "GET", "/v2")
    assert (
        status == 200 and server["name"] == "zkgate" and "zkgate-receipts" in server["extensions"]
    )
    status, model = request(gateway, "GET", f"/v2/models/{digits.name}")
    assert status == 200
    assert model["versions"][0] == digits.commitment and model["platform"] == "onnx"
    assert model["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [1, 64]}]
    assert request(gateway, "GET", f"/v2/models/{digits.name}/ready") == (
        200,
        {"name": digits.name, "ready": True},
    )
    by_commitment = f"/v2/models/{digits.name}/versions/{digits.commitment}/ready"
    assert request(gateway, "GET", by_commitment)[1]["ready"] is True


def test_a_stock_http_client_gets_the_same_answer_and_a_receipt(
    gateway: RunningGateway, digits: RegisteredModel, digits_inputs: np.ndarray
) -> None:
    client = triton_http.InferenceServerClient(gateway.rest_target)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(digits.name)
    assert client.get_server_metadata()["name"] == "zkgate"
    sample = digits_inputs[7].astype(np.float32).reshape(1, 64)
    with gateway.client() as ours:
        expected = ours.infer(digits.name, {"input": sample})
        key = ours.gateway_key()
    for binary in (True, False):
        tensor = triton_http.InferInput("input", [1, 64], "FP32")
        tensor.set_data_from_numpy(sample, binary_data=binary)
        wanted = triton_http.InferRequestedOutput("logits", binary_data=binary)
        result = client.infer(digits.name, [tensor], outputs=[wanted])
        np.testing.assert_array_equal(result.as_numpy("logits"), expected.outputs[0].array)
        receipt = Receipt.from_json(result.get_response()["parameters"]["zkgate.receipt"])
        receipt.verify_signature(key)
        assert receipt.body.output_digest == expected.receipt.body.output_digest
    with pytest.raises(InferenceServerException, match="no model named"):
        client.get_model_metadata("no-such-model")
    client.close()


def test_a_proof_requested_over_rest_verifies_with_the_client(
    gateway: RunningGateway, digits: RegisteredModel, digits_inputs: np.ndarray
) -> None:
    sample = digits_inputs[8].astype(np.float32).reshape(1, 64)
    status, reply = request(
        gateway,
        "POST",
        f"/v2/models/{digits.name}/infer",
        infer_body(sample, id="rest-proof", parameters={"zkgate.prove": True}),
    )
    assert status == 200, reply
    assert reply["id"] == "rest-proof" and reply["model_version"] == digits.commitment
    (output,) = reply["outputs"]
    logits = np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])
    prediction = Prediction(
        model=digits.name,
        request_id=reply["parameters"]["zkgate.request_id"],
        inputs=[NamedTensor.of("input", sample)],
        outputs=[NamedTensor.of("logits", logits)],
        receipt=Receipt.from_json(reply["parameters"]["zkgate.receipt"]),
    )
    with gateway.client() as client:
        proof = client.wait_for_job(reply["parameters"]["zkgate.proof_job"], timeout=300).proof
        verified = client.verify(
            prediction, proof, pinned_commitment=digits.commitment, allow_insecure_srs=True
        )
    assert verified.commitment == digits.commitment


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("GET", "/v2/models/no-such-model", None, 404, "no model named"),
        ("GET", "/v2/models/digits/versions/99/ready", None, 404, "version"),
        ("POST", "/v2/models/no-such-model/infer", b'{"inputs": []}', 404, "no model named"),
        ("POST", "/v2/models/digits/infer", b"{not json", 400, "not valid JSON"),
        ("POST", "/v2/models/digits/infer", b"[1, 2]", 400, "must be a JSON object"),
        ("POST", "/v2/models/digits/infer", b'{"inputs": 3}', 400, "a list of objects"),
        ("GET", "/v2/models/digits/infer", None, 405, "Method Not Allowed"),
        ("GET", "/v2/nowhere", None, 404, "Not Found"),
    ],
)
def test_bad_requests_get_json_errors_with_the_specs_codes(
    gateway: RunningGateway,
    digits: RegisteredModel,
    method: str,
    path: str,
    body: bytes | None,
    status: int,
    message: str,
) -> None:
    got, reply = request(gateway, method, path, body)
    assert (got, list(reply)) == (status, ["error"]), reply
    assert message in reply["error"]


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        ({"shape": [1, 63]}, "shape [1, 63] needs 63 values"),
        ({"shape": [1, 32], "data": [0.0] * 32}, "must have shape [1, 64]"),
        ({"datatype": "INT32", "data": [1.5] * 64}, "INT32 data must be integers"),
        ({"datatype": "FP32", "data": ["a"] * 64}, "FP32 data must be numbers"),
        ({"data": [[0.0] * 63, [0.0]]}, "not a rectangular array"),
        ({"datatype": "FP99"}, "unsupported datatype"),
    ],
)
def test_bad_tensors_are_400s_and_the_gateway_keeps_serving(
    gateway: RunningGateway,
    digits: RegisteredModel,
    digits_inputs: np.ndarray,
    tensor: dict[str, Any],
    message: str,
) -> None:
    entry = {"name": "input", "datatype": "FP32", "shape": [1, 64], "data": [0.0] * 64, **tensor}
    body = json.dumps({"inputs": [entry]}).encode()
    status, reply = request(gateway, "POST", f"/v2/models/{digits.name}/infer", body)
    assert status == 400 and message in reply["error"], reply
    status, _ = request(
        gateway,
        "POST",
        f"/v2/models/{digits.name}/infer",
        infer_body(digits_inputs[1].astype(np.float32).reshape(1, 64)),
    )
    assert status == 200


def test_binary_data_must_add_up(gateway: RunningGateway, digits: RegisteredModel) -> None:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP32",
                    "shape": [1, 64],
                    "parameters": {"binary_data_size": 256},
                }
            ]
        }
    ).encode()
    path = f"/v2/models/{digits.name}/infer"
    for tail, message in ((b"\0" * 100, "runs past"), (b"\0" * 300, "belong to no input")):
        headers = {"Inference-Header-Content-Length": str(len(header))}
        status, reply = request(gateway, "POST", path, header + tail, headers)
        assert status == 400 and message in reply["error"], reply
    status, reply = request(
        gateway, "POST", path, header, {"Inference-Header-Content-Length": "99999"}
    )
    assert status == 400 and "byte count" in reply["error"]


def test_an_oversized_body_is_refused_with_413(gateway: RunningGateway) -> None:
    status, reply = request(
        gateway, "POST", "/v2/models/digits/infer", b" " * (gateway.max_message_bytes + 1)
    )
    assert status == 413 and "error" in reply
