"""Every client parser and command fails with its documented error, never a crash.

Hostile documents are what an attacker would send: nesting deep enough to exhaust Python's
recursion limit, a top level that is not an object, an output list with nothing to hash. The
commands are run through `main` as a user runs them, with a gateway address nobody listens on,
so a check that happens only after connecting shows up as the wrong exit code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.fixtures.client_fixtures import ClientWorld, X, signed_prediction
from zkgate.client.cli.error_reporting import run_guarded
from zkgate.client.cli.main import main
from zkgate.client.protocols.accuracy.verification import (
    AccuracyError,
    AccuracyReason,
    verify_accuracy,
)
from zkgate.client.protocols.contest.evidence import (
    EvidenceBundle,
    EvidenceError,
    EvidenceReason,
    Failure,
    FailureKind,
)
from zkgate.core.attestations import AttestationError, CommitmentTimestamp, TrainingIntent
from zkgate.core.held_out_set import TestSet
from zkgate.core.output_files import write_atomic
from zkgate.core.prediction import Prediction, PredictionFormatError
from zkgate.core.protocols.accuracy import (
    AccuracyCertificate,
    AccuracyFormatError,
    AccuracyRequest,
    AccuracyStatement,
    CertificateEntry,
    accuracy_sample,
    issue_accuracy_statement,
)
from zkgate.core.protocols.contest import (
    ContestRequest,
    ContestStatement,
    issue_contest_statement,
    new_client_nonce,
    nonce_commitment,
    receipt_set_digest,
)
from zkgate.core.receipts import Receipt, ReceiptError

# Far past the interpreter's recursion limit: json.loads raises RecursionError on it.
DEEP = b"[" * 100_000
NOT_OBJECTS = [b"[]", b"3", b'"text"', b"null", b"true"]
# Nobody listens here: a command that connects before checking its arguments fails with
# UNAVAILABLE (exit 1) instead of the exit 2 of a bad argument.
DEAD_TARGET = "127.0.0.1:9"
COMMITMENT = "ab" * 32
BATCH_COMMITMENT = "cd" * 32
NOW_MS = 1_700_000_000_000


def _prediction(key: Ed25519PrivateKey, request_id: str = "req-1") -> Prediction:
    return signed_prediction(key, commitment=COMMITMENT, x=X, y=X[:, :3], request_id=request_id)


def _evidence(key: Ed25519PrivateKey) -> EvidenceBundle:
    predictions = [_prediction(key, f"req-{n}") for n in range(3)]
    receipts = [p.receipt for p in predictions]
    nonce = new_client_nonce()
    request = ContestRequest(
        receipt_set_digest=receipt_set_digest(receipts),
        receipt_count=len(receipts),
        client_nonce_sha256=nonce_commitment(nonce),
        sample_size=3,
        deadline_ms=60_000,
    )
    return EvidenceBundle(
        statement=issue_contest_statement(key, request, now_ms=NOW_MS),
        client_nonce=nonce,
        receipts=receipts,
        prediction=predictions[0],
        failure=Failure(FailureKind.REFUSED, NOW_MS + 1, "UNAVAILABLE", "no prover"),
    )


def _test_set(count: int = 8) -> TestSet:
    rng = np.random.default_rng(7)
    examples = rng.random((count, *X.shape), dtype=np.float32)
    return TestSet.from_arrays(examples, rng.integers(0, 3, count))


def _certificate(
    key: Ed25519PrivateKey, test_set: TestSet, proof: bytes, *, commitment: str = COMMITMENT
) -> AccuracyCertificate:
    """Well formed and honestly sampled; what its proof shows is up to the caller."""
    nonce = new_client_nonce()
    request = AccuracyRequest(
        model="mlp",
        commitment=commitment,
        batch_commitment=BATCH_COMMITMENT,
        test_set_commitment=test_set.commitment(),
        test_set_size=len(test_set),
        sample_size=3,
        delta="0.05",
        client_nonce_sha256=nonce_commitment(nonce),
    )
    statement = issue_accuracy_statement(key, request, now_ms=NOW_MS)
    digest = hashlib.sha256(proof).hexdigest()
    entries = [
        CertificateEntry(
            test_index=index,
            label=int(test_set.labels[index]),
            predicted=0,
            proof_digest=digest,
            batch_index=0,
            batch_size=1,
            outputs=[["00" * 32] * 3],
        )
        for index in accuracy_sample(statement, nonce)
    ]
    return AccuracyCertificate(
        statement=statement,
        client_nonce=nonce.hex(),
        correct=0,
        entries=entries,
        proofs={digest: proof.decode("utf-8")},
    )


def _accuracy_statement(key: Ed25519PrivateKey) -> AccuracyStatement:
    return _certificate(key, _test_set(), b"{}").statement


# Each untrusted format, its parser, and the error it documents.
PARSERS: list[tuple[str, Callable[[bytes], object], type[Exception]]] = [
    ("prediction", Prediction.from_json, PredictionFormatError),
    ("receipt", Receipt.from_json, ReceiptError),
    ("evidence", EvidenceBundle.from_json, EvidenceError),
    ("certificate", AccuracyCertificate.from_json, AccuracyFormatError),
    ("contest statement", ContestStatement.from_json, AttestationError),
    ("accuracy statement", AccuracyStatement.from_json, AttestationError),
    ("training intent", TrainingIntent.from_json, AttestationError),
    ("timestamp", CommitmentTimestamp.from_json, AttestationError),
]
PARSER_IDS = [name for name, _, _ in PARSERS]


@pytest.mark.parametrize(("name", "parse", "error"), PARSERS, ids=PARSER_IDS)
def test_deeply_nested_json_is_refused_with_the_formats_error(
    name: str, parse: Callable[[bytes], object], error: type[Exception]
) -> None:
    with pytest.raises(error, match="nests"):
        parse(DEEP)


@pytest.mark.parametrize(("name", "parse", "error"), PARSERS, ids=PARSER_IDS)
@pytest.mark.parametrize("document", NOT_OBJECTS)
def test_a_document_that_is_not_an_object_is_refused_with_the_formats_error(
    name: str, parse: Callable[[bytes], object], error: type[Exception], document: bytes
) -> None:
    with pytest.raises(error, match="JSON object"):
        parse(document)


def test_nesting_inside_an_embedded_document_is_refused() -> None:
    key = Ed25519PrivateKey.generate()
    raw = json.loads(_evidence(key).to_json())
    raw["prediction"]["receipt"]["body"]["model"] = json.loads("[" * 200 + "]" * 200)
    with pytest.raises(EvidenceError) as caught:
        EvidenceBundle.from_json(json.dumps(raw))
    assert caught.value.reason == EvidenceReason.MALFORMED


def test_a_field_of_the_wrong_type_is_named_in_the_error() -> None:
    raw = json.loads(_prediction(Ed25519PrivateKey.generate()).to_json())
    raw["receipt"]["body"]["issued_at_ms"] = "yesterday"
    with pytest.raises(PredictionFormatError, match="issued_at_ms"):
        Prediction.from_json(json.dumps(raw))


def test_every_format_still_reads_what_it_writes() -> None:
    key = Ed25519PrivateKey.generate()
    evidence = _evidence(key)
    certificate = _certificate(key, _test_set(), b"{}")
    for document, parse in [
        (evidence, EvidenceBundle.from_json),
        (evidence.prediction, Prediction.from_json),
        (evidence.prediction.receipt, Receipt.from_json),
        (evidence.statement, ContestStatement.from_json),
        (certificate, AccuracyCertificate.from_json),
    ]:
        text = document.to_json()  # type: ignore[attr-defined]
        assert parse(text).to_json() == text  # type: ignore[attr-defined]


def test_a_certificate_entry_with_an_empty_output_is_refused() -> None:
    # A proof hashes each output's felts; poseidon over an empty list has no hash to compare.
    raw = json.loads(_certificate(Ed25519PrivateKey.generate(), _test_set(), b"{}").to_json())
    raw["entries"][0]["outputs"] = [[]]
    with pytest.raises(AccuracyFormatError, match="outputs"):
        AccuracyCertificate.from_json(json.dumps(raw))


def test_a_card_without_inputs_is_rejected_not_indexed(client_world: ClientWorld) -> None:
    """The card is read only after its bundle is authenticated against the pins; a card with
    no inputs and a bundle that does not hash to them is a commitment mismatch."""
    test_set = _test_set()
    certificate = _certificate(
        client_world.key, test_set, client_world.proof, commitment=client_world.commitment
    )
    card = dataclasses.replace(client_world.bundle.card, inputs=[])
    with pytest.raises(AccuracyError) as caught:
        verify_accuracy(
            certificate,
            test_set,
            dataclasses.replace(client_world.bundle, card=card),
            pinned_commitment=client_world.commitment,
            pinned_batch_commitment=BATCH_COMMITMENT,
            gateway_public_key=client_world.gateway_key,
            allow_insecure_srs=True,
        )
    assert caught.value.reason == AccuracyReason.COMMITMENT_MISMATCH


# -- output files -----------------------------------------------------------------------------


def _test_set_files(directory: Path) -> list[str]:
    examples, labels = _test_set().to_npy()
    (directory / "x.npy").write_bytes(examples)
    (directory / "y.npy").write_bytes(labels)
    return ["--examples", str(directory / "x.npy"), "--labels", str(directory / "y.npy")]


def _evaluate(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "evaluate",
        "mlp",
        *_test_set_files(tmp_path),
        "--commitment",
        COMMITMENT,
        "--batch-commitment",
        BATCH_COMMITMENT,
        "--target",
        DEAD_TARGET,
        *extra,
    ]


def test_evaluate_refuses_a_missing_output_directory_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "missing-dir" / "cert.json"
    assert main(_evaluate(tmp_path, "--out", str(out))) == 2
    err = capsys.readouterr().err
    assert "missing-dir" in err and "does not exist" in err


def test_evaluate_refuses_a_directory_as_its_output_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_evaluate(tmp_path, "--out", str(tmp_path))) == 2
    assert "is a directory" in capsys.readouterr().err


def test_infer_refuses_a_save_directory_under_a_file_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    argv = ["infer", "mlp", "--input", str(tmp_path / "x.json"), "--target", DEAD_TARGET]
    assert main([*argv, "--save", str(blocker / "run")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_models_fetch_refuses_an_unwritable_output_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    argv = ["models", "fetch", "mlp", "--out", str(blocker), "--target", DEAD_TARGET]
    assert main(argv) == 2
    assert "not a directory" in capsys.readouterr().err


def test_an_atomic_write_replaces_whole_or_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "cert.json"
    write_atomic(path, "old")
    write_atomic(path, "new" * 1000)
    assert path.read_text() == "new" * 1000
    occupied = tmp_path / "occupied"
    (occupied / "inside").mkdir(parents=True)
    with pytest.raises(OSError):
        write_atomic(occupied, b"cannot replace a directory")
    assert (occupied / "inside").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cert.json", "occupied"]


# -- exit codes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--sample-size", "-1"),
        ("--sample-size", "0"),
        ("--epsilon", "nan"),
        ("--delta", "1.5"),
        ("--timeout", "-3"),
    ],
)
def test_bad_arguments_exit_2_before_any_network_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    argv = _evaluate(tmp_path, "--out", str(tmp_path / "cert.json"), flag, value)
    assert main(argv) == 2
    assert flag in capsys.readouterr().err


def test_a_commitment_that_is_not_hex_is_refused_while_parsing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["contest", "p.json", "-k", "1", "--commitment", "zz", "--target", DEAD_TARGET]
    assert main(argv) == 2
    assert "64 hex digits" in capsys.readouterr().err


def _one_line_without_traceback(err: str) -> str:
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_deeply_nested_evidence_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "evidence.json"
    bundle.write_bytes(DEEP)
    assert main(["check-evidence", str(bundle), "--gateway-key", "00" * 32]) == 2
    assert "nests" in _one_line_without_traceback(capsys.readouterr().err)


def test_evidence_that_does_not_hold_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "evidence.json"
    bundle.write_text(_evidence(Ed25519PrivateKey.generate()).to_json())
    assert main(["check-evidence", str(bundle), "--gateway-key", "00" * 32]) == 1
    assert "wrong_issuer" in capsys.readouterr().err


def test_a_file_that_is_not_an_srs_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    srs = tmp_path / "k17.srs"
    srs.write_bytes(b"not an srs")
    assert main(["srs-identity", str(srs)]) == 2
    assert "header" in _one_line_without_traceback(capsys.readouterr().err)


def test_a_missing_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["srs-identity", str(tmp_path / "absent.srs")]) == 2
    assert "absent.srs" in _one_line_without_traceback(capsys.readouterr().err)


def _a_defect() -> int:
    return int(time.time()) // 0


def test_an_unexpected_error_exits_2_without_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZKGATE_DEBUG", raising=False)
    assert run_guarded(_a_defect, "zkgate test") == 2
    err = _one_line_without_traceback(capsys.readouterr().err)
    assert "ZeroDivisionError" in err and "ZKGATE_DEBUG=1" in err


def test_zkgate_debug_shows_the_traceback_of_an_unexpected_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZKGATE_DEBUG", "1")
    assert run_guarded(_a_defect, "zkgate test") == 2
    assert "Traceback" in capsys.readouterr().err
