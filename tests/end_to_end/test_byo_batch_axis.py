"""A model exported with a dynamic batch axis (torch's dynamic_axes), served to a stock OIP client
a batch at a time, and every row proven and verified on its own."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import grpc
import numpy as np
import pytest
import torch
import tritonclient.grpc as triton

from tests.fixtures.gateway_fixtures import RegisteredModel, RunningGateway
from zkgate.client.cli.main import main
from zkgate.client.proof_jobs import batch_entry_of
from zkgate.client.verification.reasons import Reason, VerificationError
from zkgate.core.batch_rows import row_request_id
from zkgate.core.receipts import Receipt
from zkgate.core.tensors import NamedTensor

FEATURES, CLASSES = 16, 3


@pytest.fixture(scope="module")
def batched_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small MLP exported the usual way, with axis 0 dynamic, and its calibration rows stacked
    on that axis, shape (N, 16), as a user has them."""
    folder = tmp_path_factory.mktemp("batch-axis-model")
    torch.manual_seed(3)
    net = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 8), torch.nn.ReLU(), torch.nn.Linear(8, CLASSES)
    ).eval()
    torch.onnx.export(
        net,
        (torch.zeros(1, FEATURES),),
        str(folder / "model.onnx"),
        input_names=["features"],
        output_names=["scores"],
        dynamic_axes={"features": {0: "batch"}, "scores": {0: "batch"}},
        dynamo=False,
    )
    calibration = np.random.default_rng(0).uniform(-1, 1, (24, FEATURES)).astype(np.float32)
    np.save(folder / "calibration.npy", calibration)
    return folder / "model.onnx"


@pytest.fixture(scope="module")
def batched(gateway: RunningGateway, batched_export: Path) -> RegisteredModel:
    with gateway.client() as client:
        response = client.register_model(
            "batch-axis", batched_export, batched_export.with_name("calibration.npy")
        )
        client.wait_for_job(response.job_id, timeout=600)
        return RegisteredModel("batch-axis", client.model("batch-axis").commitment)


def _rows(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (count, FEATURES)).astype(np.float32)


def test_a_stock_client_gets_a_receipt_per_row(
    gateway: RunningGateway, batched: RegisteredModel
) -> None:
    client = triton.InferenceServerClient(gateway.target)
    metadata = client.get_model_metadata(batched.name)
    assert [list(t.shape) for t in metadata.inputs] == [[-1, FEATURES]]
    assert [list(t.shape) for t in metadata.outputs] == [[-1, CLASSES]]
    tensor = triton.InferInput("features", [4, FEATURES], "FP32")
    tensor.set_data_from_numpy(_rows(4, seed=1))
    result = client.infer(batched.name, [tensor], request_id="stock")
    scores = result.as_numpy("scores")
    assert scores is not None and scores.shape == (4, CLASSES)
    parameters = result.get_response().parameters
    listed = json.loads(parameters["zkgate.receipts"].string_param)
    receipts = [Receipt.from_json(json.dumps(receipt)) for receipt in listed]
    with gateway.client() as ours:
        key = ours.gateway_key()
    assert [r.body.request_id for r in receipts] == [
        row_request_id("stock", i, 4) for i in range(4)
    ]
    for row, receipt in enumerate(receipts):
        receipt.verify_signature(key)
        assert receipt.body.commitment == batched.commitment
        assert receipt.body.output_digest != receipts[row - 1].body.output_digest
    client.close()


def test_every_row_of_a_batch_verifies_on_its_own(
    gateway: RunningGateway, batched: RegisteredModel
) -> None:
    inputs = _rows(3, seed=2)
    with gateway.client() as client:
        rows = client.infer_rows(batched.name, {"features": inputs}, prove=True)
        assert len(rows) == 3
        proofs = []
        for row, prediction in enumerate(rows):
            np.testing.assert_array_equal(prediction.inputs[0].array, inputs[row : row + 1])
            assert prediction.job_id
            proof = client.wait_for_job(prediction.job_id, timeout=300).proof
            proofs.append(proof)
            verified = client.verify(
                prediction, proof, pinned_commitment=batched.commitment, allow_insecure_srs=True
            )
            assert verified.commitment == batched.commitment
        # Row 1's proof says nothing about row 0: the inputs it was made for differ.
        with pytest.raises(VerificationError) as info:
            client.verify(
                rows[0], proofs[1], pinned_commitment=batched.commitment, allow_insecure_srs=True
            )
        assert info.value.reason == Reason.INPUT_MISMATCH
        # Another row's outputs under this row's receipt are not what was signed.
        swapped = replace(rows[0], outputs=rows[1].outputs)
        with pytest.raises(VerificationError) as info:
            client.verify(
                swapped, proofs[0], pinned_commitment=batched.commitment, allow_insecure_srs=True
            )
        assert info.value.reason == Reason.RECEIPT_MISMATCH


def test_the_cli_verifies_every_row(
    gateway: RunningGateway,
    batched: RegisteredModel,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    np.save(tmp_path / "batch.npy", _rows(2, seed=4))
    status = main(
        [
            "infer",
            batched.name,
            "--target",
            gateway.target,
            "--input",
            str(tmp_path / "batch.npy"),
            "--prove",
            "--verify",
            "--commitment",
            batched.commitment,
            "--allow-insecure-srs",
            "--save",
            str(tmp_path / "saved"),
        ]
    )
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert out.count("VERIFIED") == 2
    for row in range(2):
        saved = tmp_path / "saved" / f"row-{row}"
        offline = [
            "verify",
            *("--bundle", str(saved / "bundle"), "--prediction", str(saved / "prediction.json")),
            *("--proof", str(saved / "proof.json"), "--commitment", batched.commitment),
            *("--gateway-key", (saved / "gateway.key").read_text()),
            "--allow-insecure-srs",
        ]
        assert main(offline) == 0, capsys.readouterr()


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((4, FEATURES + 1), r"must have shape \[rows, 16\]"),
        ((65, FEATURES), "at most 64 rows"),
        ((0, FEATURES), r"must have shape \[rows, 16\]"),
    ],
)
def test_bad_batches_are_invalid_arguments(
    gateway: RunningGateway, batched: RegisteredModel, shape: tuple[int, int], message: str
) -> None:
    with gateway.client() as client, pytest.raises(grpc.RpcError) as info:
        client.infer_rows(batched.name, {"features": np.zeros(shape, np.float32)})
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.match(message)
    # The gateway keeps serving.
    with gateway.client() as client:
        assert len(client.infer_rows(batched.name, {"features": _rows(2, seed=5)})) == 2


def test_a_row_is_proven_after_the_fact_but_only_as_one_row(
    gateway: RunningGateway, batched: RegisteredModel
) -> None:
    with gateway.client() as client:
        rows = client.infer_rows(batched.name, {"features": _rows(2, seed=6)})
        job_id = client.request_proof(rows[1])
        proof = client.wait_for_job(job_id, timeout=300).proof
        client.verify(rows[1], proof, pinned_commitment=batched.commitment, allow_insecure_srs=True)
        both = replace(rows[1], inputs=[NamedTensor.of("features", _rows(2, seed=6))])
        with pytest.raises(grpc.RpcError) as info:
            client.request_proof(both)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_rows_of_one_request_share_a_batch_circuit_proof(
    gateway: RunningGateway, batched_export: Path
) -> None:
    """With a batch circuit of 4, the 4 rows of one request are proven together: one proof,
    in which each row is an entry its client verifies on its own."""
    with gateway.client() as client:
        response = client.register_model(
            "batch-axis-4",
            batched_export,
            batched_export.with_name("calibration.npy"),
            batch_size=4,
        )
        client.wait_for_job(response.job_id, timeout=600)
        card = client.bundle("batch-axis-4").card
        assert card.batch is not None and card.dynamic_batch
        rows = client.infer_rows("batch-axis-4", {"features": _rows(4, seed=7)}, prove=True)
        jobs = [client.wait_for_job(row.job_id or "", timeout=300) for row in rows]
        assert len({job.proof for job in jobs}) == 1
        for row, job in zip(rows, jobs, strict=True):
            entry = batch_entry_of(job)
            assert entry is not None and entry.size == 4
            client.verify(
                row,
                job.proof,
                pinned_commitment=card.commitment,
                allow_insecure_srs=True,
                batch_entry=entry,
                pinned_batch_commitment=card.batch.commitment,
            )
