"""Every zoo model (examples/) registered with default tuning through the RPC, served, proven
on a prover process and verified by the client, on a held-out input.

The two smallest run in CI; the rest are marked `heavy` (minutes and gigabytes each on 2
cores) and run with `make test-heavy`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.gateway_fixtures import REPO, RunningGateway, start_gateway
from zkgate.client import verify

EXAMPLES = REPO / "examples"
# LeNet-5 needs 2^19 rows with ezkl's own settings; tuning must not be refused by the cap.
ZOO_MAX_LOGROWS = 20

ZOO = [
    pytest.param("digits", id="digits"),
    pytest.param("softmax_mlp", id="softmax_mlp"),
    pytest.param("gbt_trees", id="gbt_trees", marks=pytest.mark.heavy),
    pytest.param("attention", id="attention", marks=pytest.mark.heavy),
    pytest.param("lenet5", id="lenet5", marks=pytest.mark.heavy),
]


@pytest.fixture(scope="module")
def zoo_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    running = start_gateway(
        tmp_path_factory.mktemp("zoo"),
        lease_seconds=600.0,
        env={"ZKGATE_MAX_LOGROWS": str(ZOO_MAX_LOGROWS)},
    )
    yield running
    running.stop()


@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_registers_serves_proves_and_verifies(
    zoo_gateway: RunningGateway, name: str
) -> None:
    folder: Path = EXAMPLES / name
    sample = np.load(folder / "test_inputs.npy")[0]
    with zoo_gateway.client() as client:
        registration = client.register_model(
            name, folder / "model.onnx", folder / "calibration.npy", max_logrows=ZOO_MAX_LOGROWS
        )
        client.wait_for_job(registration.job_id, timeout=3600)
        model = client.model(name)
        input_name = client.bundle(name).card.inputs[0].name
        prediction = client.infer(name, {input_name: sample}, prove=True)
        assert prediction.job_id
        proof = client.wait_for_proof(prediction.job_id, timeout=1800)
        bundle = client.bundle(name)
        verified = verify(
            prediction,
            proof,
            bundle,
            pinned_commitment=model.commitment,
            gateway_public_key=client.gateway_key(),
            allow_insecure_srs=True,
        )
    card = bundle.card
    assert card.tuning is not None and card.tuning.effort == "fast"
    assert card.prove_peak_rss_bytes is not None and card.prove_peak_rss_bytes > 0
    served = prediction.outputs[0].array.astype(np.float64).ravel()
    proven = verified.proven_outputs[0].array.astype(np.float64).ravel()
    assert np.abs(served - proven).max() <= verified.tolerance
    assert int(np.argmax(served)) == int(np.argmax(proven))
