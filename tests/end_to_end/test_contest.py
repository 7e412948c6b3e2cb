"""The contest protocol against a real gateway: honest contests pass, substituted proofs are
rejected for what they are, and refusals and timeouts leave evidence that anyone can check."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.fixtures.gateway_fixtures import DIGITS, RegisteredModel, RunningGateway, fresh_inputs
from zkgate.client import Client, Prediction, Reason
from zkgate.client.cli.main import main
from zkgate.client.protocols.contest.evidence import (
    EvidenceBundle,
    EvidenceError,
    EvidenceReason,
    check_evidence,
)
from zkgate.client.protocols.contest.session import ContestResult, OutcomeKind
from zkgate.core.protocols.contest import (
    ContestError,
    ContestRequest,
    ContestStatement,
    contest_sample,
    issue_contest_statement,
    nonce_commitment,
)
from zkgate.wire import zkgate_pb2 as pb

GENEROUS_DEADLINE = 300.0


def predictions(client: Client, model: str, samples: np.ndarray) -> list[Prediction]:
    return [client.infer(model, {"input": sample}) for sample in samples]


@dataclass(frozen=True)
class HonestContest:
    contested: list[Prediction]
    result: ContestResult


@pytest.fixture(scope="module")
def honest(
    gateway: RunningGateway, digits: RegisteredModel, digits_inputs: np.ndarray
) -> HonestContest:
    with gateway.client() as client:
        contested = predictions(client, digits.name, digits_inputs[20:26])
        result = client.contest(
            contested,
            2,
            pinned_commitment=digits.commitment,
            deadline_seconds=GENEROUS_DEADLINE,
            tamper_rate=0.1,
            allow_insecure_srs=True,
        )
    return HonestContest(contested, result)


def test_an_honest_contest_verifies_every_sampled_proof(honest: HonestContest) -> None:
    result = honest.result
    assert result.accepted
    assert [o.kind for o in result.outcomes] == [OutcomeKind.VERIFIED] * 2
    assert len(set(result.sample)) == 2 and set(result.sample) <= set(range(6))
    assert [o.index for o in result.outcomes] == result.sample
    assert result.detection_probability == pytest.approx(1 - 0.9**2)
    assert all(o.evidence is None for o in result.outcomes)


def test_the_sample_recomputes_from_the_statement_and_the_revealed_nonce(
    honest: HonestContest, gateway: RunningGateway
) -> None:
    statement = honest.result.statement
    with gateway.client() as client:
        statement.verify()
        assert statement.issuer_public_key == client.gateway_key().hex()
    assert contest_sample(statement, honest.result.client_nonce) == honest.result.sample
    with pytest.raises(ContestError, match="does not hash to the committed one"):
        contest_sample(statement, b"\x00" * 32)


def _statement(n: int, k: int, client_nonce: bytes, gateway_nonce: str) -> ContestStatement:
    request = ContestRequest(
        receipt_set_digest="ab" * 32,
        receipt_count=n,
        client_nonce_sha256=nonce_commitment(client_nonce),
        sample_size=k,
        deadline_ms=60_000,
    )
    signed = issue_contest_statement(Ed25519PrivateKey.generate(), request, now_ms=1)
    return replace(signed, gateway_nonce=gateway_nonce)


def test_the_sample_changes_with_either_nonce() -> None:
    client_a, client_b = b"a" * 32, b"b" * 32
    base = contest_sample(_statement(1000, 8, client_a, "01" * 32), client_a)
    assert len(set(base)) == 8 and all(0 <= i < 1000 for i in base)
    assert contest_sample(_statement(1000, 8, client_a, "01" * 32), client_a) == base
    assert contest_sample(_statement(1000, 8, client_a, "02" * 32), client_a) != base
    assert contest_sample(_statement(1000, 8, client_b, "01" * 32), client_b) != base


def test_the_sample_is_uniform_and_a_full_sample_is_every_receipt() -> None:
    counts: Counter[int] = Counter()
    for draw in range(2000):
        nonce = draw.to_bytes(32, "big")
        counts.update(contest_sample(_statement(4, 1, nonce, "03" * 32), nonce))
    # 500 expected per index; the standard deviation is about 19.
    assert all(400 < counts[i] < 600 for i in range(4)), counts
    nonce = b"c" * 32
    assert sorted(contest_sample(_statement(5, 5, nonce, "04" * 32), nonce)) == list(range(5))


def test_the_gateway_refuses_a_deadline_no_prover_could_meet(gateway: RunningGateway) -> None:
    request = ContestRequest("ab" * 32, 3, "cd" * 32, 1, deadline_ms=10)
    with gateway.client() as client, pytest.raises(grpc.RpcError) as info:
        client.open_contest(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "deadline" in (info.value.details() or "")


class SubstitutedProofs:
    """A gateway that answers every contested proof request with the proof of another input:
    the real gateway proves the requests, and the proof it returns is swapped on the way."""

    def __init__(self, client: Client, foreign_proof: bytes) -> None:
        self._client = client
        self._foreign_proof = foreign_proof

    def request_proof(self, prediction: Prediction) -> str:
        return self._client.request_proof(prediction)

    def wait_for_job(self, job_id: str, *, timeout: float) -> pb.Job:
        job = self._client.wait_for_job(job_id, timeout=timeout)
        return pb.Job(job_id=job.job_id, state=job.state, proof=self._foreign_proof)


def test_a_proof_of_another_input_is_rejected_as_an_input_mismatch(
    honest: HonestContest, gateway: RunningGateway, digits: RegisteredModel
) -> None:
    proven = honest.result.outcomes[0].prediction
    sampled = {o.prediction.receipt for o in honest.result.outcomes}
    unsampled = [p for p in honest.contested if p.receipt not in sampled][:2]
    with gateway.client() as client:
        foreign_proof = client.wait_for_proof(client.request_proof(proven), timeout=60)
        result = client.contest(
            unsampled,
            2,
            pinned_commitment=digits.commitment,
            deadline_seconds=GENEROUS_DEADLINE,
            allow_insecure_srs=True,
            proofs=SubstitutedProofs(client, foreign_proof),
        )
    assert not result.accepted
    assert [o.kind for o in result.outcomes] == [OutcomeKind.REJECTED] * 2
    assert [o.reason for o in result.outcomes] == [Reason.INPUT_MISMATCH] * 2
    assert all(o.detail and o.evidence is None for o in result.outcomes)


@pytest.fixture(scope="module")
def never_proven(gateway: RunningGateway) -> RegisteredModel:
    """The bundled model again, under a name whose policy forbids proofs."""
    with gateway.client() as client:
        response = client.register_model(
            "digits-never", DIGITS / "model.onnx", DIGITS / "calibration.npy", policy="never"
        )
        client.wait_for_job(response.job_id, timeout=600)
        return RegisteredModel("digits-never", client.model("digits-never").commitment)


@pytest.fixture(scope="module")
def refusal(
    gateway: RunningGateway, never_proven: RegisteredModel, digits_inputs: np.ndarray
) -> tuple[EvidenceBundle, bytes]:
    with gateway.client() as client:
        contested = predictions(client, never_proven.name, digits_inputs[30:33])
        result = client.contest(
            contested,
            1,
            pinned_commitment=never_proven.commitment,
            deadline_seconds=GENEROUS_DEADLINE,
            allow_insecure_srs=True,
        )
        key = client.gateway_key()
    [outcome] = result.outcomes
    assert outcome.kind == OutcomeKind.REFUSED
    assert "FAILED_PRECONDITION" in outcome.detail and "never" in outcome.detail
    assert outcome.evidence is not None
    return outcome.evidence, key


def test_a_refusal_leaves_evidence_that_checks_after_a_round_trip(
    refusal: tuple[EvidenceBundle, bytes],
) -> None:
    evidence, key = refusal
    assert evidence.failure.code == "FAILED_PRECONDITION"
    assert check_evidence(evidence, key)
    assert check_evidence(EvidenceBundle.from_json(evidence.to_json()), key)
    with pytest.raises(EvidenceError) as info:
        EvidenceBundle.from_json(evidence.to_json()[:-10])
    assert info.value.reason == EvidenceReason.MALFORMED


def _edit_json(evidence: EvidenceBundle, edit: Callable[[dict[str, Any]], None]) -> EvidenceBundle:
    raw = json.loads(evidence.to_json())
    edit(raw)
    return EvidenceBundle.from_json(json.dumps(raw))


def _later_deadline(raw: dict[str, Any]) -> None:
    body = raw["statement"]["body"]
    body["deadline_ms"] += 60_000
    body["deadline_at_ms"] += 60_000


def _another_receipt_of_the_set(evidence: EvidenceBundle) -> Prediction:
    """The contested prediction, pretending to be for a receipt the sample did not draw."""
    other = next(r for r in evidence.receipts if r != evidence.prediction.receipt)
    return replace(evidence.prediction, receipt=other)


def _inputs_changed(evidence: EvidenceBundle) -> Prediction:
    [tensor] = evidence.prediction.inputs
    changed = replace(tensor, array=np.asarray(tensor.array, dtype=np.float32) + 0.5)
    return replace(evidence.prediction, inputs=[changed])


TAMPERINGS: dict[str, tuple[Callable[[EvidenceBundle], EvidenceBundle], EvidenceReason]] = {
    "later deadline": (
        lambda e: _edit_json(e, _later_deadline),
        EvidenceReason.BAD_SIGNATURE,
    ),
    "statement field re-signed by nobody": (
        lambda e: replace(e, statement=replace(e.statement, sample_size=3)),
        EvidenceReason.BAD_SIGNATURE,
    ),
    "receipt dropped from the set": (
        lambda e: replace(
            e, receipts=[r for r in e.receipts if r != _another_receipt_of_the_set(e).receipt]
        ),
        EvidenceReason.RECEIPT_SET_MISMATCH,
    ),
    "a gateway nonce that is not one": (
        lambda e: _edit_json(e, lambda raw: raw["statement"]["body"].update(gateway_nonce="zz")),
        EvidenceReason.MALFORMED,
    ),
    "a count that is not an integer": (
        lambda e: _edit_json(e, lambda raw: raw["statement"]["body"].update(sample_size="1")),
        EvidenceReason.MALFORMED,
    ),
    "another client nonce": (
        lambda e: replace(e, client_nonce=b"\x01" * 32),
        EvidenceReason.NONCE_MISMATCH,
    ),
    "a receipt the sample did not draw": (
        lambda e: replace(e, prediction=_another_receipt_of_the_set(e)),
        EvidenceReason.NOT_SAMPLED,
    ),
    "other inputs than the receipt's": (
        lambda e: replace(e, prediction=_inputs_changed(e)),
        EvidenceReason.PREDICTION_MISMATCH,
    ),
    "refusal dated before the contest": (
        lambda e: replace(e, failure=replace(e.failure, at_ms=e.statement.issued_at_ms - 1)),
        EvidenceReason.BAD_TIME,
    ),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_tampered_evidence_is_rejected_with_its_reason(
    refusal: tuple[EvidenceBundle, bytes], tampering: str
) -> None:
    evidence, key = refusal
    tamper, reason = TAMPERINGS[tampering]
    with pytest.raises(EvidenceError) as info:
        check_evidence(tamper(evidence), key)
    assert info.value.reason == reason, str(info.value)


def test_evidence_is_checked_against_the_pinned_gateway_key(
    refusal: tuple[EvidenceBundle, bytes],
) -> None:
    evidence, _ = refusal
    stranger = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(EvidenceError) as info:
        check_evidence(evidence, stranger)
    assert info.value.reason == EvidenceReason.WRONG_ISSUER


def test_proofs_missing_at_the_deadline_leave_timeout_evidence(
    gateway: RunningGateway, digits: RegisteredModel
) -> None:
    # The provers are frozen through the contest, so no proof can arrive before its deadline,
    # however fast this machine proves.
    with gateway.client() as client:
        contested = predictions(client, digits.name, fresh_inputs(6, seed=5))
        with gateway.paused_provers():
            result = client.contest(
                contested,
                6,
                pinned_commitment=digits.commitment,
                deadline_seconds=1.0,
                allow_insecure_srs=True,
            )
        key = client.gateway_key()
    kinds = Counter(o.kind for o in result.outcomes)
    assert kinds == {OutcomeKind.TIMED_OUT: 6}, result.outcomes
    timed_out = next(o for o in result.outcomes if o.kind == OutcomeKind.TIMED_OUT)
    assert timed_out.evidence is not None
    assert timed_out.evidence.failure.at_ms >= result.statement.deadline_at_ms
    assert check_evidence(EvidenceBundle.from_json(timed_out.evidence.to_json()), key)
    early = replace(
        timed_out.evidence,
        failure=replace(timed_out.evidence.failure, at_ms=result.statement.deadline_at_ms - 1),
    )
    with pytest.raises(EvidenceError) as info:
        check_evidence(early, key)
    assert info.value.reason == EvidenceReason.BAD_TIME


def test_the_cli_contests_saved_predictions_and_checks_the_evidence(
    gateway: RunningGateway,
    never_proven: RegisteredModel,
    digits_inputs: np.ndarray,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with gateway.client() as client:
        saved = predictions(client, never_proven.name, digits_inputs[40:42])
        key = client.gateway_key().hex()
    files = []
    for number, prediction in enumerate(saved):
        files.append(tmp_path / f"prediction-{number}.json")
        files[-1].write_text(prediction.to_json())
    evidence_dir = tmp_path / "evidence"
    exit_code = main(
        [
            "contest",
            *map(str, files),
            "-k",
            "1",
            "--commitment",
            never_proven.commitment,
            "--allow-insecure-srs",
            "--evidence-dir",
            str(evidence_dir),
            "--target",
            gateway.target,
        ]
    )
    out = capsys.readouterr().out
    assert exit_code == 1, out
    assert "refused" in out and "NOT ACCEPTED" in out
    [evidence] = evidence_dir.glob("evidence-*.json")
    assert main(["check-evidence", str(evidence), "--gateway-key", key]) == 0
    assert "EVIDENCE HOLDS: refused" in capsys.readouterr().out
    stranger = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    assert main(["check-evidence", str(evidence), "--gateway-key", stranger]) == 1
    assert "wrong_issuer" in capsys.readouterr().err
    evidence.write_text(evidence.read_text()[:-5])
    assert main(["check-evidence", str(evidence), "--gateway-key", key]) == 2


@pytest.mark.parametrize(
    ("pick", "k", "message"),
    [
        (lambda c: c, 7, "between 1 and the receipt count 6"),
        (lambda c: c, 0, "between 1 and the receipt count 6"),
        (lambda c: [*c, c[0]], 1, "more than once"),
    ],
)
def test_a_contest_that_makes_no_sense_is_refused_before_any_call(
    honest: HonestContest,
    digits: RegisteredModel,
    pick: Callable[[list[Prediction]], list[Prediction]],
    k: int,
    message: str,
) -> None:
    # An unreachable target: the client must refuse before contacting any gateway.
    with Client("127.0.0.1:1", timeout=1) as client, pytest.raises(ContestError, match=message):
        client.contest(
            pick(honest.contested),
            k,
            pinned_commitment=digits.commitment,
            deadline_seconds=GENEROUS_DEADLINE,
        )
