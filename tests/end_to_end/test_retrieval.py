"""Trustless retrieval end to end: a real gateway commits to a dataset, keys a requester's
predicate, answers and proves; the requester checks the result, trusting none of its claims.

Hostile results are the honest one edited the way a cheating responder would edit it, re-signed
with the responder's key where the edit touches a signed statement; each must fail with its own
reason.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from math import comb
from pathlib import Path

import ezkl
import grpc
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from torch import nn

from tests.fixtures.retrieval_fixtures import RECORDS, SAMPLE, RetrievalWorld, held
from tests.fixtures.tampering import ReplyRewriter, flip_proof_byte, resigned_later
from zkgate.client import Client
from zkgate.client.cli.main import main
from zkgate.client.proof_jobs import ProofJobFailed
from zkgate.client.protocols.retrieval.calls import RetrievalRefused
from zkgate.client.protocols.retrieval.verification import (
    RetrievalError,
    RetrievalReason,
    verify_retrieval,
)
from zkgate.core.array_rows import RowsError
from zkgate.core.attestations import AttestationError
from zkgate.core.canonical import sha256_hex
from zkgate.core.dataset import Dataset
from zkgate.core.keys import load_or_create_private_key
from zkgate.core.protocols.contest import nonce_commitment
from zkgate.core.protocols.retrieval import (
    DatasetStatement,
    RequesterRecord,
    Retrieval,
    RetrievalResult,
    RetrievalStatement,
    RetrievedRecord,
    omission_sample_size,
    retrieval_sample,
)
from zkgate.core.signing import raw_public_key
from zkgate.core.srs import srs_logrows
from zkgate.pol.onnx_binding import export_onnx
from zkgate.wire import zkgate_pb2 as pb
from zkgate.wire import zkgate_pb2_grpc


def _expect(
    world: RetrievalWorld,
    reason: RetrievalReason,
    result: RetrievalResult | Retrieval,
    **kw: object,
) -> RetrievalError:
    with pytest.raises(RetrievalError) as caught:
        world.verify(result, **kw)
    assert caught.value.reason == reason, caught.value.detail
    return caught.value


# -- an honest retrieval ---------------------------------------------------------------------


def test_an_honest_retrieval_returns_exactly_the_matching_records_and_checks_a_sample(
    world: RetrievalWorld,
) -> None:
    verified = world.verify()
    expected = [i for i in range(RECORDS) if world.records[i, 0, 0] > 0]
    assert [index for index, _ in verified.matches] == expected == [0, 3, 7, 10]
    for index, record in verified.matches:
        np.testing.assert_array_equal(record, world.records[index])
    assert verified.left_out == RECORDS - len(expected)
    assert len(verified.sampled) == SAMPLE
    assert not set(verified.sampled) & set(expected)
    # Drawn without replacement: one omission among the left-out records is caught with
    # probability k / L, two with 1 - C(L - 2, k) / C(L, k).
    left_out = verified.left_out
    assert verified.detection_probability() == pytest.approx(SAMPLE / left_out)
    assert verified.detection_probability(2) == pytest.approx(
        1 - comb(left_out - 2, SAMPLE) / comb(left_out, SAMPLE)
    )
    assert any("rebuilt byte for byte" in check for check in verified.checks)


def test_the_result_and_the_record_survive_their_json_form(world: RetrievalWorld) -> None:
    again = RetrievalResult.from_json(world.result.to_json())
    assert again == world.result
    record = RequesterRecord.from_json(world.retrieval.record.to_json())
    assert record == world.retrieval.record
    assert len(world.verify(Retrieval(record=record, result=again)).matches) == 4


def test_the_development_srs_is_refused_unless_allowed(world: RetrievalWorld) -> None:
    _expect(world, RetrievalReason.INSECURE_SRS, world.result, allow_insecure_srs=False)


def test_asking_again_reuses_the_registered_predicate(world: RetrievalWorld) -> None:
    with world.client() as client:
        again = client.retrieve(world.dataset_id, world.dataset, world.predicate, sample_size=1)
    assert again.statement.predicate_model == world.result.statement.predicate_model
    assert again.statement.matches == world.result.statement.matches
    assert len(again.result.records) == len(again.statement.match_indices()) + 1


# -- hostile results -------------------------------------------------------------------------


def _responder_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _resigned(
    world: RetrievalWorld,
    key: Ed25519PrivateKey,
    *,
    matches: list[int],
    sample_size: int,
    nonce: bytes,
) -> tuple[DatasetStatement, RetrievalStatement]:
    """The dataset statement and an answer as a cheating responder holding `key` signs them."""
    statement = dataclasses.replace(
        world.result.statement,
        matches=",".join(str(i) for i in matches),
        sample_size=sample_size,
        client_nonce_sha256=nonce_commitment(nonce),
    ).signed_by(key)
    return world.dataset.signed_by(key), statement


def _resigned_with_proven_draw(
    world: RetrievalWorld, key: Ed25519PrivateKey, matches: list[int]
) -> tuple[DatasetStatement, RetrievalStatement, bytes, list[RetrievedRecord]]:
    """A re-signed answer with one left-out record drawn, under a nonce whose draw lands on a
    left-out record the honest result holds a proof of; and that record."""
    proven = {r.index: r for r in world.result.records if not r.matched}
    for attempt in range(1000):
        nonce = attempt.to_bytes(32, "big")
        dataset, statement = _resigned(world, key, matches=matches, sample_size=1, nonce=nonce)
        drawn = retrieval_sample(statement, nonce)
        if set(drawn) <= set(proven) - set(matches):
            return dataset, statement, nonce, [proven[i] for i in drawn]
    raise AssertionError("no nonce drew a proven left-out record")


def _record(world: RetrievalWorld, index: int) -> RetrievedRecord:
    return next(r for r in world.result.records if r.index == index)


def _forged(
    world: RetrievalWorld,
    statement: RetrievalStatement,
    nonce: bytes,
    records: list[RetrievedRecord],
    proofs: dict[str, str] | None = None,
) -> RetrievalResult:
    return RetrievalResult(
        statement=statement,
        client_nonce=nonce.hex(),
        records=records,
        proofs=world.result.proofs if proofs is None else proofs,
    )


def test_a_claimed_match_the_predicate_does_not_hold_for_is_a_forged_result(
    world: RetrievalWorld,
) -> None:
    key = _responder_key()
    honest = world.result.statement.match_indices()
    false_match = next(r for r in world.result.records if not r.matched)
    dataset, statement, nonce, drawn = _resigned_with_proven_draw(
        world, key, sorted([*honest, false_match.index])
    )
    records = [_record(world, i) for i in honest] + [dataclasses.replace(false_match, matched=True)]
    error = _expect(
        world,
        RetrievalReason.FORGED_RESULT,
        held(_forged(world, statement, nonce, records + drawn)),
        dataset=dataset,
        gateway_public_key=raw_public_key(key),
    )
    assert f"record {false_match.index}" in error.detail


def test_a_predicate_output_edited_in_the_proof_is_an_invalid_proof(
    world: RetrievalWorld,
) -> None:
    """The forged result a responder would rather show: a proof whose outputs say "holds"."""
    key = _responder_key()
    honest = world.result.statement.match_indices()
    victim = next(r for r in world.result.records if not r.matched)
    proof = json.loads(world.result.proofs[victim.proof_digest])
    row = proof["instances"][0]
    row[-2], row[-1] = row[-1], row[-2]  # the two logits: now class 1 wins
    forged_text = json.dumps(proof)
    digest = sha256_hex(forged_text.encode())
    dataset, statement, nonce, drawn = _resigned_with_proven_draw(
        world, key, sorted([*honest, victim.index])
    )
    records = [_record(world, i) for i in honest] + [
        dataclasses.replace(victim, matched=True, proof_digest=digest)
    ]
    proofs = {**world.result.proofs, digest: forged_text}
    _expect(
        world,
        RetrievalReason.INVALID_PROOF,
        held(_forged(world, statement, nonce, records + drawn, proofs)),
        dataset=dataset,
        gateway_public_key=raw_public_key(key),
    )


def test_an_omitted_match_that_the_draw_lands_on_is_caught(world: RetrievalWorld) -> None:
    key = _responder_key()
    honest = world.result.statement.match_indices()
    omitted = honest[0]
    # The test plays the requester too: it tries nonces until the draw of one left-out record
    # lands on the omitted match, as it will with probability p per record drawn.
    for attempt in range(1000):
        nonce = attempt.to_bytes(32, "big")
        dataset, statement = _resigned(world, key, matches=honest[1:], sample_size=1, nonce=nonce)
        if retrieval_sample(statement, nonce) == [omitted]:
            break
    else:
        pytest.fail("no nonce drew the omitted record")
    records = [_record(world, i) for i in honest[1:]] + [
        dataclasses.replace(_record(world, omitted), matched=False)
    ]
    error = _expect(
        world,
        RetrievalReason.OMISSION,
        held(_forged(world, statement, nonce, records)),
        dataset=dataset,
        gateway_public_key=raw_public_key(key),
    )
    assert f"record {omitted}" in error.detail


def _edited(
    world: RetrievalWorld,
    changes: dict[int, dict[str, object]],
    proofs: dict[str, str] | None = None,
) -> RetrievalResult:
    """The honest result with the records at these positions edited (and proofs added)."""
    records = [dataclasses.replace(r, **changes.get(r.index, {})) for r in world.result.records]
    return dataclasses.replace(
        world.result, records=records, proofs={**world.result.proofs, **(proofs or {})}
    )


def test_a_record_outside_the_committed_set_is_rejected(world: RetrievalWorld) -> None:
    outsider = np.array([[0.9, 0.1, 0.2, 0.3]], dtype=np.float32).astype("<f4").tobytes().hex()
    target = world.result.records[0].index
    error = _expect(
        world, RetrievalReason.OUTSIDE_DATASET, _edited(world, {target: {"data": outsider}})
    )
    assert "not the committed dataset's record" in error.detail


def test_a_record_moved_to_another_position_is_outside_the_committed_set(
    world: RetrievalWorld,
) -> None:
    first, second = world.result.matched_records()[:2]
    swapped = {first.index: {"data": second.data}, second.index: {"data": first.data}}
    _expect(world, RetrievalReason.OUTSIDE_DATASET, _edited(world, swapped))


def test_a_proof_of_another_record_is_an_input_mismatch(world: RetrievalWorld) -> None:
    first, second = world.result.matched_records()[:2]
    borrowed = {first.index: {"proof_digest": second.proof_digest}}
    _expect(world, RetrievalReason.INPUT_MISMATCH, _edited(world, borrowed))


def test_a_flipped_proof_byte_is_an_invalid_proof(world: RetrievalWorld) -> None:
    target = world.result.records[0]
    flipped = flip_proof_byte(world.result.proofs[target.proof_digest].encode()).decode()
    digest = sha256_hex(flipped.encode())
    result = _edited(world, {target.index: {"proof_digest": digest}}, {digest: flipped})
    _expect(world, RetrievalReason.INVALID_PROOF, result)


def test_a_missing_match_is_rejected(world: RetrievalWorld) -> None:
    dropped = world.result.matched_records()[0]
    records = [r for r in world.result.records if r.index != dropped.index]
    error = _expect(
        world, RetrievalReason.MISSING_RECORD, dataclasses.replace(world.result, records=records)
    )
    assert str(dropped.index) in error.detail


def test_left_out_records_other_than_the_draw_are_a_sample_mismatch(
    world: RetrievalWorld,
) -> None:
    drawn = {r.index for r in world.result.records if not r.matched}
    undrawn = next(i for i in world.result.statement.left_out() if i not in drawn)
    _expect(
        world, RetrievalReason.SAMPLE_MISMATCH, _edited(world, {min(drawn): {"index": undrawn}})
    )


def test_a_nonce_that_is_not_the_committed_one_is_a_sample_mismatch(
    world: RetrievalWorld,
) -> None:
    """Even for a requester whose own record holds that nonce."""
    replaced = dataclasses.replace(world.result, client_nonce=(b"x" * 32).hex())
    _expect(world, RetrievalReason.SAMPLE_MISMATCH, held(replaced))


def test_proofs_of_another_predicate_are_a_predicate_mismatch(world: RetrievalWorld) -> None:
    error = _expect(
        world, RetrievalReason.PREDICATE_MISMATCH, world.result, predicate=world.other_predicate
    )
    assert "not the circuit of the predicate ONNX" in error.detail


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (("run_args", "input_scale"), 2),
        (("model_input_scales",), [0]),
        (("model_output_scales",), [0]),
        (("input_types",), ["Int"]),
        (("model_instance_shapes",), [[1, 4], [2, 1]]),
        (("run_args", "param_visibility"), "Private"),
    ],
)
def test_served_settings_other_than_the_derived_ones_are_refused(
    world: RetrievalWorld, field: tuple[str, ...], value: object
) -> None:
    """Each of these fields decides how records are quantized or outputs read, and none of
    them changes the rebuilt key: the requester reads them from its own derivation only."""
    with world.client() as client:
        bundle = client.bundle(world.result.statement.predicate_model)
        key = client.gateway_key()
    settings = json.loads(bundle.settings)
    *parents, name = field
    target = settings
    for parent in parents:
        target = target[parent]
    target[name] = value
    edited = dataclasses.replace(bundle, settings=json.dumps(settings).encode())
    with pytest.raises(RetrievalError) as caught:
        verify_retrieval(
            world.retrieval,
            world.dataset,
            world.predicate,
            edited,
            srs_path=world.srs_path,
            gateway_public_key=key,
            allow_insecure_srs=True,
        )
    assert caught.value.reason == RetrievalReason.PREDICATE_MISMATCH
    assert field[0] in caught.value.detail


def test_an_srs_file_of_another_identity_is_a_predicate_mismatch(
    world: RetrievalWorld, tmp_path: Path
) -> None:
    """A well-formed SRS of the right size, made from other toxic waste."""
    other = tmp_path / "other.srs"
    ezkl.gen_srs(str(other), srs_logrows(world.srs_path.read_bytes()))
    _expect(world, RetrievalReason.PREDICATE_MISMATCH, world.result, srs_path=other)


def test_an_answer_over_another_dataset_is_a_dataset_mismatch(world: RetrievalWorld) -> None:
    with world.client() as client:
        other_id, _ = client.commit_dataset("other", Dataset.from_array(world.records[:6]))
        other = client.dataset(other_id)
    _expect(world, RetrievalReason.DATASET_MISMATCH, world.result, dataset=other)


def test_a_dataset_committed_after_the_answer_is_a_dataset_mismatch(
    world: RetrievalWorld,
) -> None:
    key, nonce = _responder_key(), bytes.fromhex(world.result.client_nonce)
    late = dataclasses.replace(
        world.dataset, issued_at_ms=world.result.statement.issued_at_ms + 1
    ).signed_by(key)
    statement = world.result.statement.signed_by(key)
    _expect(
        world,
        RetrievalReason.DATASET_MISMATCH,
        held(_forged(world, statement, nonce, list(world.result.records))),
        dataset=late,
        gateway_public_key=raw_public_key(key),
    )


def test_statements_not_signed_by_the_gateway_are_rejected(world: RetrievalWorld) -> None:
    stranger = raw_public_key(_responder_key())
    _expect(world, RetrievalReason.BAD_STATEMENT, world.result, gateway_public_key=stranger)


# -- bad input over the wire -----------------------------------------------------------------


def _open_request(world: RetrievalWorld, **overrides: object) -> pb.OpenRetrievalRequest:
    fields: dict[str, object] = {
        "dataset_id": world.dataset_id,
        "dataset_root": world.dataset.root,
        "dataset_size": world.dataset.size,
        "predicate_model": world.result.statement.predicate_model,
        "predicate_commitment": world.result.statement.predicate_commitment,
        "sample_size": 1,
        "client_nonce_sha256": "ab" * 32,
    }
    return pb.OpenRetrievalRequest(**{**fields, **overrides})  # type: ignore[arg-type]


def _call(world: RetrievalWorld, method: str, request: object) -> tuple[grpc.StatusCode, str]:
    with grpc.insecure_channel(world.gateway.target) as channel:
        stub = zkgate_pb2_grpc.RetrievalServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            getattr(stub, method)(request, timeout=60)
    return caught.value.code(), caught.value.details() or ""


@pytest.mark.parametrize(
    ("method", "build", "code", "message"),
    [
        (
            "CommitDataset",
            lambda w: pb.CommitDatasetRequest(name="junk", records=b"not npy"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "not a .npy array",
        ),
        (
            "CommitDataset",
            lambda w: pb.CommitDatasetRequest(records=Dataset.from_array(w.records).to_npy()),
            grpc.StatusCode.INVALID_ARGUMENT,
            "name the dataset",
        ),
        (
            "GetDataset",
            lambda w: pb.GetDatasetRequest(dataset_id="00" * 32),
            grpc.StatusCode.NOT_FOUND,
            "no dataset",
        ),
        (
            "GetDataset",
            lambda w: pb.GetDatasetRequest(dataset_id="../etc/passwd"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "64 hex digits",
        ),
        (
            "GetDataset",
            # A stored artifact that is no dataset: a proof.
            lambda w: pb.GetDatasetRequest(dataset_id=w.result.records[0].proof_digest),
            grpc.StatusCode.NOT_FOUND,
            "no dataset",
        ),
        (
            "OpenRetrieval",
            lambda w: _open_request(w, sample_size=RECORDS + 1),
            grpc.StatusCode.INVALID_ARGUMENT,
            "sample size",
        ),
        (
            "OpenRetrieval",
            lambda w: _open_request(w, dataset_root="cd" * 32),
            grpc.StatusCode.INVALID_ARGUMENT,
            "not " + "cd" * 32,
        ),
        (
            "OpenRetrieval",
            lambda w: _open_request(w, predicate_commitment="ef" * 32),
            grpc.StatusCode.FAILED_PRECONDITION,
            "serves commitment",
        ),
        (
            "RevealRetrievalNonce",
            lambda w: pb.RevealRetrievalNonceRequest(
                dataset_id=w.dataset_id,
                statement_json=w.result.statement.to_json(),
                client_nonce="00" * 32,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "does not hash to the committed one",
        ),
        (
            "RevealRetrievalNonce",
            lambda w: pb.RevealRetrievalNonceRequest(
                dataset_id=w.dataset_id,
                statement_json=w.result.statement.signed_by(_responder_key()).to_json(),
                client_nonce=w.result.client_nonce,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "open the retrieval on this gateway first",
        ),
        (
            "RevealRetrievalNonce",
            # A digit int() cannot read, in a field that is parsed before any signature check.
            lambda w: pb.RevealRetrievalNonceRequest(
                dataset_id=w.dataset_id,
                statement_json=w.result.statement.to_json().replace(
                    f'"matches":"{w.result.statement.matches}"', '"matches":"²"'
                ),
                client_nonce=w.result.client_nonce,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "without leading zeros",
        ),
        (
            "GetRetrieval",
            lambda w: pb.GetRetrievalRequest(retrieval_id="11" * 32),
            grpc.StatusCode.NOT_FOUND,
            "no retrieval",
        ),
    ],
)
def test_bad_requests_get_a_clear_status(
    world: RetrievalWorld,
    method: str,
    build: Callable[[RetrievalWorld], object],
    code: grpc.StatusCode,
    message: str,
) -> None:
    got_code, detail = _call(world, method, build(world))
    assert (got_code, message in detail) == (code, True), detail
    # The gateway keeps serving.
    with world.client() as client:
        assert client.dataset(world.dataset_id) == world.dataset


def test_a_predicate_onnxruntime_cannot_load_fails_its_registration_with_the_reason(
    world: RetrievalWorld,
) -> None:
    with world.client() as client, pytest.raises(ProofJobFailed, match="onnxruntime cannot load"):
        client.retrieve(world.dataset_id, world.dataset, b"not an onnx model", timeout=300)


def test_a_predicate_that_is_not_a_two_way_classifier_is_refused(
    world: RetrievalWorld, tmp_path: Path
) -> None:
    path = tmp_path / "three.onnx"
    export_onnx(nn.Linear(4, 3), 4, path)
    with world.client() as client, pytest.raises(grpc.RpcError) as caught:
        client.retrieve(world.dataset_id, world.dataset, path.read_bytes(), timeout=300)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "two-way classifier" in (caught.value.details() or "")


# -- the pieces ------------------------------------------------------------------------------


def test_the_default_sample_catches_a_five_percent_omission_rate_at_95_percent() -> None:
    assert omission_sample_size(0.05, 0.95) == 59
    assert 1 - 0.95**59 >= 0.95 > 1 - 0.95**58


@pytest.mark.parametrize("matches", ["3,1", "01", "1,,2", "1 ,2", "-1", "1,1", "²", "1,+2"])
def test_an_answer_spells_its_matches_one_way_only(world: RetrievalWorld, matches: str) -> None:
    body = json.loads(world.result.statement.to_json())
    body["body"]["matches"] = matches
    with pytest.raises(AttestationError, match="matches"):
        RetrievalStatement.from_json(json.dumps(body))


@pytest.mark.parametrize("shape", ["", "0,4", "01,4", "1,,4", "²", "1,4.0"])
def test_a_dataset_spells_its_record_shape_one_way_only(world: RetrievalWorld, shape: str) -> None:
    body = json.loads(world.dataset.to_json())
    body["body"]["record_shape"] = shape
    with pytest.raises(AttestationError, match="record shape"):
        DatasetStatement.from_json(json.dumps(body))


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (np.zeros((3, 4), np.int32), "floating point"),
        (np.zeros(4, np.float32), "stacked on axis 0"),
        (np.full((3, 4), np.inf, np.float32), "infinite"),
    ],
)
def test_unusable_datasets_are_refused(records: np.ndarray, message: str) -> None:
    with pytest.raises(RowsError, match=message):
        Dataset.from_array(records)


# -- the command line ------------------------------------------------------------------------


def test_the_cli_retrieves_and_verifies_offline(
    world: RetrievalWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = ["--target", world.gateway.target]
    records, statement = tmp_path / "records.npy", tmp_path / "dataset.json"
    predicate, out = tmp_path / "predicate.onnx", tmp_path / "retrieval"
    np.save(records, world.records)
    predicate.write_bytes(world.predicate)
    commit = ["datasets", "commit", "cli-vectors", str(records), "--out", str(statement)]
    assert main([*commit, *target]) == 0
    dataset_id = capsys.readouterr().out.split()[1].rstrip(":")
    assert main(["datasets", "fetch", dataset_id, "--out", str(statement), *target]) == 0
    checks = ["--dataset", str(statement), "--predicate", str(predicate), "--allow-insecure-srs"]
    checks += ["--srs", str(world.srs_path)]
    retrieve = ["retrieve", dataset_id, *checks, "--sample-size", "2", "--out", str(out)]
    assert main([*retrieve, *target]) == 0
    assert "VERIFIED: 4 of 12 records match" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load(out / "matches.npy"), world.records[[0, 3, 7, 10]])
    with world.client() as client:
        key = client.gateway_key().hex()
    offline = ["verify-retrieval", str(out), *checks, "--gateway-key", key]
    assert main(offline) == 0
    # A record swapped for one outside the dataset is a rejection (1); no SRS file is
    # unreadable input (2).
    raw = json.loads((out / "result.json").read_text())
    raw["records"][0]["data"] = np.zeros(4, "<f4").tobytes().hex()
    (out / "result.json").write_text(json.dumps(raw))
    assert main(offline) == 1
    assert "outside_dataset" in capsys.readouterr().err
    no_srs = [str(tmp_path / "none.srs") if arg == str(world.srs_path) else arg for arg in offline]
    assert main(no_srs) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_result_under_a_statement_signed_after_the_reveal_is_refused(
    world: RetrievalWorld,
) -> None:
    """The re-signed statement is the gateway's own, so it verifies; only the requester's copy
    from before the reveal shows it is not the answer it was given."""
    key = load_or_create_private_key(world.gateway.data_dir / "keys" / "receipt-ed25519.key")

    def resign(reply: pb.Retrieval) -> None:
        result = RetrievalResult.from_json(reply.result_json)
        reply.result_json = dataclasses.replace(
            result, statement=resigned_later(result.statement, key)
        ).to_json()

    channel = grpc.intercept_channel(
        grpc.insecure_channel(world.gateway.target), ReplyRewriter("/GetRetrieval", resign)
    )
    with (
        Client(world.gateway.target, channel=channel, timeout=60) as client,
        pytest.raises(AttestationError, match="signed after the reveal"),
    ):
        client.retrieve(world.dataset_id, world.dataset, world.predicate, sample_size=1)


def test_a_record_the_responder_does_not_prove_is_named(world: RetrievalWorld) -> None:
    """A record beyond the predicate circuit's range (calibrated on the first 32) cannot be
    proven; the requester learns which record went unproven and in what role."""
    records = np.concatenate([np.tile(world.records, (3, 1, 1))[:33], [[[1e6, 0, 0, 0]]]])
    with world.client() as client:
        dataset_id, dataset = client.commit_dataset("out-of-range", Dataset.from_array(records))
        with pytest.raises(RetrievalRefused) as caught:
            client.retrieve(dataset_id, dataset, world.predicate, sample_size=1, timeout=300)
    assert (caught.value.index, caught.value.matched) == (33, True)
    assert "did not prove record 33, a claimed match" in str(caught.value)
