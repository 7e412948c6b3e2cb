"""Verified accuracy end to end: a real gateway and prover prove a sample of a test set revealed
after the commitment, and the client checks the certificate, trusting none of its claims.

Hostile certificates are the honest one edited the way a cheating provider would edit it; each
must fail with its own reason.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import onnxruntime as ort
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.fixtures.batching_fixtures import BatchedModel
from tests.fixtures.gateway_fixtures import DIGITS
from tests.fixtures.tampering import ReplyRewriter, resigned_later
from zkgate.client import Client
from zkgate.client.cli.main import main
from zkgate.client.protocols.accuracy.verification import (
    AccuracyError,
    AccuracyReason,
    VerifiedAccuracy,
)
from zkgate.core.attestations import AttestationError
from zkgate.core.held_out_set import TestSet, TestSetError
from zkgate.core.keys import load_or_create_private_key
from zkgate.core.protocols.accuracy import (
    AccuracyCertificate,
    AccuracyFormatError,
    AccuracyRequest,
    AccuracyStatement,
    hoeffding_epsilon,
    hoeffding_sample_size,
)
from zkgate.core.protocols.contest import new_client_nonce, nonce_commitment
from zkgate.core.sampling import draw_sample
from zkgate.wire import zkgate_pb2 as pb
from zkgate.wire import zkgate_pb2_grpc

# Disjoint from the batching tests' rows (see batching_fixtures): proofs are idempotent per input.
_ROWS = slice(20, 36)
_SAMPLE = 6


def _digits_test_set(rows: slice = _ROWS) -> TestSet:
    return TestSet.from_arrays(
        np.load(DIGITS / "test_inputs.npy")[rows], np.load(DIGITS / "test_labels.npy")[rows]
    )


@pytest.fixture(scope="module")
def held_set() -> TestSet:
    return _digits_test_set()


@pytest.fixture(scope="module")
def certificate(batched_model: BatchedModel, held_set: TestSet) -> AccuracyCertificate:
    with batched_model.gateway.client() as client:
        return client.evaluate_accuracy(
            batched_model.name,
            held_set,
            pinned_commitment=batched_model.commitment,
            pinned_batch_commitment=batched_model.batch_commitment,
            sample_size=_SAMPLE,
            timeout=600,
        )


def _verify(
    model: BatchedModel,
    certificate: AccuracyCertificate,
    held_set: TestSet,
    **overrides: object,
) -> VerifiedAccuracy:
    options: dict[str, object] = {
        "pinned_commitment": model.commitment,
        "pinned_batch_commitment": model.batch_commitment,
        "allow_insecure_srs": True,
        **overrides,
    }
    with model.gateway.client() as client:
        return client.verify_accuracy(certificate, held_set, **options)  # type: ignore[arg-type]


def _rejected(
    model: BatchedModel, certificate: AccuracyCertificate, held_set: TestSet, **overrides: object
) -> AccuracyError:
    with pytest.raises(AccuracyError) as caught:
        _verify(model, certificate, held_set, **overrides)
    return caught.value


def _with_entry(
    certificate: AccuracyCertificate, position: int, **changes: object
) -> AccuracyCertificate:
    entries = list(certificate.entries)
    entries[position] = dataclasses.replace(entries[position], **changes)  # type: ignore[arg-type]
    return dataclasses.replace(certificate, entries=entries)


# -- the statistics and the commitments -------------------------------------------------------


def test_hoeffding_sample_sizes_match_the_paper_rounded_up() -> None:
    # Kang et al. list 600 / 2,396 / 14,979 at delta = 5%; rounding 2,396.6 down would leave
    # the bound short of epsilon, so 2,397.
    sizes = [hoeffding_sample_size(eps, 0.05) for eps in (0.05, 0.025, 0.01)]
    assert sizes == [600, 2397, 14979]
    assert hoeffding_epsilon(600, 0.05) <= 0.05 < hoeffding_epsilon(599, 0.05)


def test_samples_are_reproducible_distinct_and_unbiased() -> None:
    seed = bytes(range(32))
    sample = draw_sample(seed, 1_000_000, 600)
    assert sample == draw_sample(seed, 1_000_000, 600)
    assert len(set(sample)) == 600 and all(0 <= i < 1_000_000 for i in sample)
    # Every position is drawn about equally often over many seeds (chi-square, 10 bins).
    counts = np.zeros(10)
    for n in range(2_000):
        for index in draw_sample(n.to_bytes(4, "big"), 10, 3):
            counts[index] += 1
    expected = 2_000 * 3 / 10
    chi_square = float(((counts - expected) ** 2 / expected).sum())
    assert chi_square < 27.9  # the 0.999 quantile with 9 degrees of freedom


def test_the_test_set_commitment_binds_every_example_label_and_position(
    held_set: TestSet,
) -> None:
    root = held_set.commitment()
    swapped_example = held_set.examples.copy()
    swapped_example[3] = swapped_example[4]
    other_label = held_set.labels.copy()
    other_label[3] += 1
    reordered = np.arange(len(held_set))[::-1]
    variants = [
        TestSet.from_arrays(swapped_example, held_set.labels),
        TestSet.from_arrays(held_set.examples, other_label),
        TestSet.from_arrays(held_set.examples[reordered], held_set.labels[reordered]),
    ]
    assert all(variant.commitment() != root for variant in variants)
    assert TestSet.from_npy(*held_set.to_npy()).commitment() == root


@pytest.mark.parametrize(
    ("examples", "labels", "message"),
    [
        (np.zeros((3, 4), np.int32), np.zeros(3, np.int64), "floating point"),
        (np.zeros((3, 4), np.float32), np.zeros(3, np.float32), "integers"),
        (np.zeros(4, np.float32), np.zeros(4, np.int64), "stacked on axis 0"),
        (np.zeros((3, 4), np.float32), np.zeros(2, np.int64), "one per example"),
        (np.zeros((3, 4), np.float32), -np.ones(3, np.int64), "cannot be negative"),
        (np.full((3, 4), np.nan, np.float32), np.zeros(3, np.int64), "NaN"),
    ],
)
def test_unusable_test_sets_are_refused(
    examples: np.ndarray, labels: np.ndarray, message: str
) -> None:
    with pytest.raises(TestSetError, match=message):
        TestSet.from_arrays(examples, labels)


# -- an honest evaluation ----------------------------------------------------------------------


def test_an_honest_certificate_is_accepted_and_counts_what_the_model_really_predicts(
    batched_model: BatchedModel, certificate: AccuracyCertificate, held_set: TestSet
) -> None:
    verified = _verify(batched_model, certificate, held_set)
    assert verified.sample_size == _SAMPLE == len({e.test_index for e in certificate.entries})
    # The count the proofs show is the one onnxruntime gives on the same examples.
    session = ort.InferenceSession(str(DIGITS / "model.onnx"))
    indices = [entry.test_index for entry in certificate.entries]
    predicted = [
        int(np.argmax(session.run(None, {"input": held_set.examples[i]})[0])) for i in indices
    ]
    assert verified.correct == sum(
        p == held_set.labels[i] for p, i in zip(predicted, indices, strict=True)
    )
    assert verified.epsilon == pytest.approx(hoeffding_epsilon(_SAMPLE, 0.05))
    assert verified.lower_bound == max(0.0, verified.accuracy - verified.epsilon)
    # Examples of one batch share a proof, which is stored once.
    assert len(certificate.proofs) < _SAMPLE
    assert AccuracyCertificate.from_json(certificate.to_json()) == certificate


# -- hostile certificates ------------------------------------------------------------------------


def test_a_swapped_test_example_is_rejected(
    batched_model: BatchedModel, certificate: AccuracyCertificate, held_set: TestSet
) -> None:
    # An easier example's proof put in the place of a sampled one.
    other = certificate.entries[1]
    forged = _with_entry(
        certificate,
        0,
        proof_digest=other.proof_digest,
        batch_index=other.batch_index,
        batch_size=other.batch_size,
        outputs=other.outputs,
        predicted=other.predicted,
    )
    error = _rejected(batched_model, forged, held_set)
    assert error.reason == AccuracyReason.EXAMPLE_MISMATCH
    assert "does not hash your input" in error.detail


def test_a_wrong_label_is_rejected(
    batched_model: BatchedModel, certificate: AccuracyCertificate, held_set: TestSet
) -> None:
    entry = certificate.entries[0]
    # The label the provider would like: the class its model predicted.
    wrong = entry.predicted if entry.predicted != entry.label else (entry.label + 1) % 10
    forged = _with_entry(certificate, 0, label=wrong)
    error = _rejected(batched_model, forged, held_set)
    assert error.reason == AccuracyReason.LABEL_MISMATCH


def test_proofs_for_a_different_test_set_are_rejected(
    batched_model: BatchedModel, certificate: AccuracyCertificate
) -> None:
    error = _rejected(batched_model, certificate, _digits_test_set(slice(40, 56)))
    assert error.reason == AccuracyReason.TEST_SET_MISMATCH


def test_a_claimed_count_that_differs_from_the_proofs_is_rejected(
    batched_model: BatchedModel, certificate: AccuracyCertificate, held_set: TestSet
) -> None:
    inflated = dataclasses.replace(certificate, correct=certificate.correct + 1)
    error = _rejected(batched_model, inflated, held_set)
    assert error.reason == AccuracyReason.COUNT_MISMATCH
    assert f"the proofs show {certificate.correct}" in error.detail


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        # Reported as predicting the label, whatever the proof says.
        (
            lambda c: _with_entry(c, 0, predicted=(c.entries[0].predicted + 1) % 10),
            AccuracyReason.PREDICTION_MISMATCH,
        ),
        # Another entry's outputs at this entry's place in the proof.
        (
            lambda c: _with_entry(
                c,
                0,
                outputs=next(e.outputs for e in c.entries if e.outputs != c.entries[0].outputs),
            ),
            AccuracyReason.OUTPUT_MISMATCH,
        ),
        # The sample cherry-picked: a drawn example dropped.
        (
            lambda c: dataclasses.replace(c, entries=c.entries[1:]),
            AccuracyReason.SAMPLE_MISMATCH,
        ),
        # A proof that is not the one its digest names.
        (
            lambda c: dataclasses.replace(
                c, proofs={d: p.replace("1", "2", 1) for d, p in c.proofs.items()}
            ),
            AccuracyReason.INVALID_PROOF,
        ),
    ],
    ids=["predicted", "outputs", "sample", "proof"],
)
def test_each_forged_part_is_rejected_with_its_own_reason(
    batched_model: BatchedModel,
    certificate: AccuracyCertificate,
    held_set: TestSet,
    edit: Callable[[AccuracyCertificate], AccuracyCertificate],
    reason: AccuracyReason,
) -> None:
    assert _rejected(batched_model, edit(certificate), held_set).reason == reason


def test_a_statement_not_signed_by_the_gateway_is_rejected(
    batched_model: BatchedModel, certificate: AccuracyCertificate, held_set: TestSet
) -> None:
    resigned = dataclasses.replace(
        certificate, statement=certificate.statement.signed_by(Ed25519PrivateKey.generate())
    )
    error = _rejected(batched_model, resigned, held_set)
    assert error.reason == AccuracyReason.BAD_STATEMENT


def test_a_certificate_of_another_commitment_is_rejected(
    batched_model: BatchedModel, certificate: AccuracyCertificate, held_set: TestSet
) -> None:
    error = _rejected(batched_model, certificate, held_set, pinned_commitment="ab" * 32)
    assert error.reason == AccuracyReason.COMMITMENT_MISMATCH


def test_a_development_srs_is_refused_by_default(
    batched_model: BatchedModel, certificate: AccuracyCertificate, held_set: TestSet
) -> None:
    error = _rejected(batched_model, certificate, held_set, allow_insecure_srs=False)
    assert error.reason == AccuracyReason.INSECURE_SRS


def test_a_malformed_certificate_is_refused_with_a_clear_error(
    certificate: AccuracyCertificate,
) -> None:
    raw = json.loads(certificate.to_json())
    raw["correct"] = "6"
    with pytest.raises(AccuracyFormatError, match="`correct` must be a non-negative integer"):
        AccuracyCertificate.from_json(json.dumps(raw))
    with pytest.raises(AccuracyFormatError, match="not an accuracy certificate"):
        AccuracyCertificate.from_json(json.dumps({"format": "zkgate.model-card/1"}))


# -- the gateway's side -------------------------------------------------------------------------


def _open_request(model: BatchedModel, held_set: TestSet, nonce: bytes) -> AccuracyRequest:
    return AccuracyRequest(
        model=model.name,
        commitment=model.commitment,
        batch_commitment=model.batch_commitment,
        test_set_commitment=held_set.commitment(),
        test_set_size=len(held_set),
        sample_size=2,
        delta="0.05",
        client_nonce_sha256=nonce_commitment(nonce),
    )


def test_the_gateway_refuses_bad_evaluations_and_keeps_serving(
    batched_model: BatchedModel, certificate: AccuracyCertificate, held_set: TestSet
) -> None:
    nonce = new_client_nonce()
    request = _open_request(batched_model, held_set, nonce)
    with grpc.insecure_channel(batched_model.gateway.target) as channel:
        stub = zkgate_pb2_grpc.AccuracyServiceStub(channel)

        def status_of(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
            with pytest.raises(grpc.RpcError) as caught:
                call()
            return caught.value.code(), caught.value.details()

        def open_with(**changes: object) -> object:
            fields = {**dataclasses.asdict(request), **changes}
            return stub.OpenEvaluation(pb.OpenEvaluationRequest(**fields))  # type: ignore[arg-type]

        assert status_of(lambda: open_with(model="no-such-model"))[0] == grpc.StatusCode.NOT_FOUND
        code, detail = status_of(lambda: open_with(commitment="cd" * 32))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and "serves commitment" in detail
        code, detail = status_of(lambda: open_with(sample_size=len(held_set) + 1))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "sample size" in detail
        code, detail = status_of(lambda: open_with(delta="1.5"))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "delta" in detail

        statement_json = stub.OpenEvaluation(
            pb.OpenEvaluationRequest(**dataclasses.asdict(request))
        ).statement_json
        examples, labels = held_set.to_npy()

        def reveal(**changes: object) -> pb.Evaluation:
            fields: dict[str, object] = {
                "statement_json": statement_json,
                "client_nonce": nonce.hex(),
                "examples": examples,
                "labels": labels,
                **changes,
            }
            return stub.RevealTestSet(pb.RevealTestSetRequest(**fields))  # type: ignore[arg-type]

        other_examples, other_labels = _digits_test_set(slice(40, 56)).to_npy()
        code, detail = status_of(lambda: reveal(examples=other_examples, labels=other_labels))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "send the exact arrays" in detail
        code, detail = status_of(lambda: reveal(client_nonce=new_client_nonce().hex()))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "nonce" in detail
        code, detail = status_of(lambda: reveal(examples=examples[: len(examples) // 2]))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "not a .npy array" in detail
        foreign = AccuracyStatement.from_json(statement_json).signed_by(
            Ed25519PrivateKey.generate()
        )
        code, detail = status_of(lambda: reveal(statement_json=foreign.to_json()))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "not signed by this gateway" in detail

        unknown = pb.GetEvaluationRequest(evaluation_id="ef" * 32)
        assert status_of(lambda: stub.GetEvaluation(unknown))[0] == grpc.StatusCode.NOT_FOUND
        malformed = pb.GetEvaluationRequest(evaluation_id="../etc/passwd")
        assert status_of(lambda: stub.GetEvaluation(malformed))[0] == (
            grpc.StatusCode.INVALID_ARGUMENT
        )

        # The honest reveal is idempotent: the same evaluation, the same jobs.
        first, again = reveal(), reveal()
        assert (first.evaluation_id, list(first.job_ids)) == (
            again.evaluation_id,
            list(again.job_ids),
        )
        assert len(first.job_ids) == 2
    # Still serving: the module's certificate verifies through a fresh connection.
    assert _verify(batched_model, certificate, held_set).sample_size == _SAMPLE


def test_a_certificate_under_a_statement_signed_after_the_reveal_is_refused(
    batched_model: BatchedModel, held_set: TestSet
) -> None:
    """A gateway that re-signs the statement (a fresh time, and with it a fresh chance at a
    sample) once it has seen the test set and nonce is caught by the consumer's own copy."""
    gateway = batched_model.gateway
    key = load_or_create_private_key(gateway.data_dir / "keys" / "receipt-ed25519.key")

    def resign(reply: pb.Evaluation) -> None:
        if reply.certificate_json:
            certificate = AccuracyCertificate.from_json(reply.certificate_json)
            reply.certificate_json = dataclasses.replace(
                certificate, statement=resigned_later(certificate.statement, key)
            ).to_json()

    channel = grpc.intercept_channel(
        grpc.insecure_channel(gateway.target), ReplyRewriter("/GetEvaluation", resign)
    )
    with (
        Client(gateway.target, channel=channel, timeout=60) as client,
        pytest.raises(AttestationError, match="signed after the reveal"),
    ):
        client.evaluate_accuracy(
            batched_model.name,
            held_set,
            pinned_commitment=batched_model.commitment,
            pinned_batch_commitment=batched_model.batch_commitment,
            sample_size=2,
            timeout=600,
        )


def test_the_cli_evaluates_and_verifies_a_certificate_offline(
    batched_model: BatchedModel,
    held_set: TestSet,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    examples, labels = tmp_path / "examples.npy", tmp_path / "labels.npy"
    np.save(examples, held_set.examples)
    np.save(labels, held_set.labels)
    certificate, bundle = tmp_path / "certificate.json", tmp_path / "bundle"
    test_set_flags = [
        "--examples",
        str(examples),
        "--labels",
        str(labels),
        "--commitment",
        batched_model.commitment,
        "--batch-commitment",
        batched_model.batch_commitment,
        "--allow-insecure-srs",
    ]
    target = ["--target", batched_model.gateway.target]
    # A sample of 3 fits one batch proof.
    evaluate = ["evaluate", batched_model.name, *test_set_flags, "--sample-size", "3"]
    assert main([*evaluate, "--out", str(certificate), *target]) == 0
    assert "VERIFIED: " in capsys.readouterr().out
    assert (
        main(["models", "fetch", batched_model.name, "--batch", "--out", str(bundle), *target]) == 0
    )
    key = (bundle / "gateway.key").read_text()
    check = ["verify-accuracy", str(certificate), *test_set_flags, "--bundle", str(bundle)]
    assert main([*check, "--gateway-key", key]) == 0
    assert "with probability 0.95" in capsys.readouterr().out
    # A tampered count is a rejection (1); a truncated certificate is unreadable (2).
    raw = json.loads(certificate.read_text())
    raw["correct"] = (raw["correct"] + 1) % 4
    certificate.write_text(json.dumps(raw))
    assert main([*check, "--gateway-key", key]) == 1
    assert "count_mismatch" in capsys.readouterr().err
    certificate.write_text(certificate.read_text()[:-10])
    assert main([*check, "--gateway-key", key]) == 2
    assert "malformed accuracy certificate" in capsys.readouterr().err
