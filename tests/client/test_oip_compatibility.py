"""A stock Open Inference Protocol client (tritonclient) works against the gateway unchanged."""

from __future__ import annotations

import numpy as np
import tritonclient.grpc as triton

from tests.fixtures.gateway_fixtures import RegisteredModel, RunningGateway
from zkgate.core.receipts import Receipt


def test_tritonclient_speaks_to_the_gateway(
    gateway: RunningGateway, digits: RegisteredModel, digits_inputs: np.ndarray
) -> None:
    client = triton.InferenceServerClient(gateway.target)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(digits.name)
    assert client.get_server_metadata().name == "zkgate"
    metadata = client.get_model_metadata(digits.name)
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("input", "FP32", [1, 64])
    ]

    sample = digits_inputs[5].astype(np.float32)
    tensor = triton.InferInput("input", [1, 64], "FP32")
    tensor.set_data_from_numpy(sample)
    result = client.infer(digits.name, [tensor], parameters={"zkgate.prove": False})
    logits = result.as_numpy("logits")
    assert logits is not None and logits.shape == (1, 10)

    # The same answer the zkgate client gets, and a receipt signed over it.
    with gateway.client() as ours:
        prediction = ours.infer(digits.name, {"input": sample})
        key = ours.gateway_key()
    np.testing.assert_array_equal(logits, prediction.outputs[0].array)
    receipt = Receipt.from_json(result.get_response().parameters["zkgate.receipt"].string_param)
    receipt.verify_signature(key)
    assert receipt.body.commitment == digits.commitment
    client.close()
