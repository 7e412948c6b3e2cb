"""Cross-request batching end to end: a real gateway and prover, the digits model registered
with a batch circuit of 4, concurrent clients sharing one proof, each checking only its own
entry."""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.batching_fixtures import (
    BATCH_SIZE,
    BATCHED_MODEL,
    WINDOW_SECONDS,
    BatchedModel,
)
from tests.fixtures.gateway_fixtures import DIGITS
from zkgate.client import Client
from zkgate.client.cli.main import main
from zkgate.client.proof_jobs import batch_entry_of
from zkgate.client.verification.reasons import Reason, VerificationError
from zkgate.core.batch_entry import BatchEntry
from zkgate.core.prediction import Prediction
from zkgate.wire import zkgate_pb2 as pb


@dataclass(frozen=True)
class ProvenRequest:
    prediction: Prediction
    job: pb.Job

    @property
    def entry(self) -> BatchEntry:
        entry = batch_entry_of(self.job)
        assert entry is not None
        return entry


def _prove(target: str, sample: np.ndarray) -> ProvenRequest:
    with Client(target, timeout=60) as client:
        prediction = client.infer(BATCHED_MODEL, {"input": sample}, prove=True)
        assert prediction.job_id is not None
        return ProvenRequest(prediction, client.wait_for_job(prediction.job_id, timeout=300))


@pytest.fixture(scope="module")
def concurrent(batched_model: BatchedModel) -> list[ProvenRequest]:
    """Three clients at once: one batch of 4 with one padding entry."""
    samples = np.load(DIGITS / "test_inputs.npy")[:3]
    with ThreadPoolExecutor(len(samples)) as pool:
        return list(
            pool.map(lambda s: _prove(batched_model.gateway.target, s), samples)  # type: ignore[arg-type]
        )


def _verify(
    client: Client, model: BatchedModel, prediction: Prediction, proof: bytes, entry: BatchEntry
) -> list[str]:
    verified = client.verify(
        prediction,
        proof,
        pinned_commitment=model.commitment,
        pinned_batch_commitment=model.batch_commitment,
        batch_entry=entry,
        allow_insecure_srs=True,
    )
    return verified.checks


def test_the_card_describes_the_batch_circuit(batched_model: BatchedModel) -> None:
    with batched_model.gateway.client() as client:
        model_bundle = client.bundle(BATCHED_MODEL)
        batch_bundle = client.bundle(BATCHED_MODEL, batch=True)
    batch = model_bundle.card.batch
    assert batch is not None
    assert batch.size == BATCH_SIZE
    assert batch_bundle.commitment() == batch.commitment != model_bundle.commitment()
    assert batch.logrows > model_bundle.card.logrows
    assert batch.prove_seconds > 0


def test_concurrent_clients_share_one_proof_and_each_verifies_its_entry(
    batched_model: BatchedModel, concurrent: list[ProvenRequest]
) -> None:
    assert {len(request.job.proof) for request in concurrent} != {0}
    assert len({request.job.proof for request in concurrent}) == 1, "not proven as one batch"
    assert sorted(request.entry.index for request in concurrent) == [0, 1, 2]
    with batched_model.gateway.client() as client:
        for request in concurrent:
            assert request.entry.size == BATCH_SIZE
            checks = _verify(
                client, batched_model, request.prediction, request.job.proof, request.entry
            )
            assert any(f"entry {request.entry.index} of the batch" in c for c in checks)


def test_a_swapped_index_is_rejected(
    batched_model: BatchedModel, concurrent: list[ProvenRequest]
) -> None:
    mine, theirs = concurrent[0], concurrent[1]
    swapped = dataclasses.replace(mine.entry, index=theirs.entry.index)
    with batched_model.gateway.client() as client, pytest.raises(VerificationError) as caught:
        _verify(client, batched_model, mine.prediction, mine.job.proof, swapped)
    assert caught.value.reason == Reason.INPUT_MISMATCH
    assert "does not hash your input" in caught.value.detail


def test_someone_elses_entry_is_rejected(
    batched_model: BatchedModel, concurrent: list[ProvenRequest]
) -> None:
    mine, theirs = concurrent[0], concurrent[1]
    with batched_model.gateway.client() as client:
        # Their whole entry (index and proven outputs) with my prediction.
        with pytest.raises(VerificationError) as caught:
            _verify(client, batched_model, mine.prediction, theirs.job.proof, theirs.entry)
        assert caught.value.reason == Reason.INPUT_MISMATCH
        # My index, their outputs: the proof's output hash at my index does not match.
        borrowed = dataclasses.replace(mine.entry, outputs=theirs.entry.outputs)
        with pytest.raises(VerificationError) as caught:
            _verify(client, batched_model, mine.prediction, mine.job.proof, borrowed)
        assert caught.value.reason == Reason.ENTRY_MISMATCH
        assert "does not hash the outputs" in caught.value.detail


@pytest.mark.parametrize("outputs", [[[]], [[], []], []])
def test_an_entry_reporting_empty_outputs_is_an_entry_mismatch(
    batched_model: BatchedModel, concurrent: list[ProvenRequest], outputs: list[list[str]]
) -> None:
    """Poseidon over an empty list used to escape as an IndexError."""
    mine = concurrent[0]
    emptied = dataclasses.replace(mine.entry, outputs=outputs)
    with batched_model.gateway.client() as client, pytest.raises(VerificationError) as caught:
        _verify(client, batched_model, mine.prediction, mine.job.proof, emptied)
    assert caught.value.reason == Reason.ENTRY_MISMATCH


def test_a_batched_proof_needs_the_batch_commitment_pinned(
    batched_model: BatchedModel, concurrent: list[ProvenRequest]
) -> None:
    request = concurrent[0]
    with batched_model.gateway.client() as client, pytest.raises(VerificationError) as caught:
        client.verify(
            request.prediction,
            request.job.proof,
            pinned_commitment=batched_model.commitment,
            pinned_batch_commitment=batched_model.commitment,
            batch_entry=request.entry,
            allow_insecure_srs=True,
        )
    assert caught.value.reason == Reason.COMMITMENT_MISMATCH


def test_a_lone_request_is_proven_after_the_window(
    batched_model: BatchedModel, concurrent: list[ProvenRequest]
) -> None:
    sample = np.load(DIGITS / "test_inputs.npy")[5]
    started = time.monotonic()
    lone = _prove(batched_model.gateway.target, sample)
    assert time.monotonic() - started >= WINDOW_SECONDS
    assert (lone.entry.index, lone.entry.size) == (0, BATCH_SIZE)
    with batched_model.gateway.client() as client:
        _verify(client, batched_model, lone.prediction, lone.job.proof, lone.entry)
        # Another batch's proof at an index holding someone else's input is not mine.
        other = concurrent[1]
        with pytest.raises(VerificationError) as caught:
            _verify(client, batched_model, lone.prediction, other.job.proof, other.entry)
        assert caught.value.reason == Reason.INPUT_MISMATCH


def test_the_cli_verifies_a_batched_proof_online_and_offline(
    batched_model: BatchedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = tmp_path / "x.npy"
    np.save(sample, np.load(DIGITS / "test_inputs.npy")[8])
    saved = tmp_path / "saved"
    target = ["--target", batched_model.gateway.target]
    pins = ["--commitment", batched_model.commitment]
    online = ["infer", BATCHED_MODEL, "--input", str(sample), "--prove", "--verify"]
    assert main([*online, *pins, "--allow-insecure-srs", "--save", str(saved), *target]) == 0
    out = capsys.readouterr().out
    assert "batch     entry" in out and "VERIFIED" in out
    offline = [
        "verify",
        "--bundle",
        str(saved / "bundle"),
        "--prediction",
        str(saved / "prediction.json"),
        "--proof",
        str(saved / "proof.json"),
        "--gateway-key",
        f"@{saved / 'gateway.key'}",
        "--allow-insecure-srs",
        *pins,
    ]
    entry = ["--batch-entry", str(saved / "batch_entry.json")]
    batch_pin = ["--batch-commitment", batched_model.batch_commitment]
    assert main([*offline, *entry, *batch_pin]) == 0
    # The batch bundle read as a model's: its commitment is not the model's.
    assert main(offline) == 1
    assert "commitment_mismatch" in capsys.readouterr().err
    assert main([*offline, *entry]) == 2
    assert "needs both --batch-entry and --batch-commitment" in capsys.readouterr().err
    # An entry that reports other outputs than the proof hashes at its place. (A lone request
    # is padded with copies of itself, so its index alone could move without harm.)
    saved_entry = BatchEntry.from_json((saved / "batch_entry.json").read_text())
    outputs = [list(tensor) for tensor in saved_entry.outputs]
    assert outputs[0][0] != outputs[0][1]
    outputs[0][0], outputs[0][1] = outputs[0][1], outputs[0][0]
    (saved / "batch_entry.json").write_text(
        dataclasses.replace(saved_entry, outputs=outputs).to_json()
    )
    assert main([*offline, *entry, *batch_pin]) == 1
    assert "entry_mismatch" in capsys.readouterr().err
