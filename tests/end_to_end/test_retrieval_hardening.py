"""Trustless retrieval against a responder that holds the gateway's key and keys circuits of its
own: settings edited outside the verifying key, a predicate keyed at a scale that hides its
matches, answers re-signed after the reveal, and documents built to crash the reader.

Every proof here is a real ezkl proof, made the way such a responder would make it: its own
compile, setup and prove over the dev SRS the gateway keyed with.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ezkl
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.fixtures.retrieval_fixtures import SAMPLE, RetrievalWorld, held, predicate_onnx
from zkgate.client.cli.main import main
from zkgate.client.protocols.retrieval.predicate_circuit import derive_settings
from zkgate.client.protocols.retrieval.verification import (
    RetrievalError,
    RetrievalReason,
    verify_retrieval,
)
from zkgate.core.bundle import VerifierBundle
from zkgate.core.canonical import sha256_hex
from zkgate.core.dataset import Dataset
from zkgate.core.keys import load_or_create_private_key
from zkgate.core.merkle import inclusion_proof
from zkgate.core.protocols.contest import nonce_commitment
from zkgate.core.protocols.retrieval import (
    Retrieval,
    RetrievalFormatError,
    RetrievalResult,
    RetrievedRecord,
    retrieval_sample,
)
from zkgate.core.sampling import chance_to_draw_any
from zkgate.core.settings_consistency import SettingsInconsistent, check_settings_consistency
from zkgate.core.tensors import NamedTensor
from zkgate.prover.circuits.witness_input import witness_input_json


def _gateway_key(world: RetrievalWorld) -> Ed25519PrivateKey:
    return load_or_create_private_key(world.gateway.data_dir / "keys" / "receipt-ed25519.key")


def _served_bundle(world: RetrievalWorld) -> VerifierBundle:
    with world.client() as client:
        return client.bundle(world.result.statement.predicate_model)


def _keyed_by_responder(
    world: RetrievalWorld, onnx: bytes, settings: dict[str, Any], directory: Path
) -> tuple[VerifierBundle, Path, Path]:
    """The responder's own circuit of `onnx` under `settings`: its bundle (a card naming it),
    its compiled circuit and its proving key."""
    paths = {name: directory / name for name in ("model.onnx", "settings.json", "compiled")}
    paths["model.onnx"].write_bytes(onnx)
    paths["settings.json"].write_text(json.dumps(settings))
    ezkl.compile_circuit(*(str(paths[n]) for n in ("model.onnx", "compiled", "settings.json")))
    ezkl.setup(
        str(paths["compiled"]),
        str(directory / "vk.key"),
        str(directory / "pk.key"),
        srs_path=str(world.srs_path),
        witness_path=None,
        disable_selector_compression=False,
    )
    served = _served_bundle(world)
    unnamed = dataclasses.replace(
        served,
        verifying_key=(directory / "vk.key").read_bytes(),
        settings=paths["settings.json"].read_bytes(),
    )
    card = dataclasses.replace(served.card, commitment=unnamed.commitment())
    bundle = dataclasses.replace(unnamed, card=card, card_json=card.to_json())
    return bundle, paths["compiled"], directory / "pk.key"


def _hiding_retrieval(
    world: RetrievalWorld,
    bundle: VerifierBundle,
    circuit: tuple[Path, Path],
    directory: Path,
    *,
    hides: set[int],
    feed: Callable[[np.ndarray], np.ndarray] = lambda record: record,
) -> Retrieval:
    """An answer that no record matches, signed by the gateway's key before the reveal, with
    every drawn record proven under the responder's circuit (fed `feed(record)`): what the
    requester receives. The test plays the requester too and picks a nonce whose draw holds a
    match the attack hides and none it does not, as it will with some probability."""
    compiled, pk = circuit
    matches = set(world.result.statement.match_indices())
    for attempt in range(1000):
        nonce = attempt.to_bytes(32, "big")
        statement = dataclasses.replace(
            world.result.statement,
            matches="",
            predicate_commitment=bundle.commitment(),
            sample_size=SAMPLE,
            client_nonce_sha256=nonce_commitment(nonce),
        ).signed_by(_gateway_key(world))
        drawn = set(retrieval_sample(statement, nonce))
        if drawn & hides and not drawn & (matches - hides):
            break
    else:
        raise AssertionError("no nonce drew a hidden match alone")
    leaves = Dataset.from_array(world.records).leaves()
    records, proofs = [], {}
    for index in retrieval_sample(statement, nonce):
        data, witness, proof = (directory / f"{name}-{index}" for name in ("in", "wit", "proof"))
        fed = feed(world.records[index])
        data.write_bytes(witness_input_json([NamedTensor.of("input", fed)]))
        ezkl.gen_witness(str(data), str(compiled), str(witness), vk_path=None, srs_path=None)
        ezkl.prove(str(witness), str(compiled), str(pk), str(proof), srs_path=str(world.srs_path))
        text = proof.read_text()
        proofs[sha256_hex(text.encode())] = text
        records.append(
            RetrievedRecord(
                index=index,
                matched=False,
                data=world.records[index].astype("<f4").tobytes().hex(),
                path=[node.hex() for node in inclusion_proof(leaves, index).path],
                proof_digest=sha256_hex(text.encode()),
            )
        )
    result = RetrievalResult(
        statement=statement, client_nonce=nonce.hex(), records=records, proofs=proofs
    )
    return held(result)


def _verify(world: RetrievalWorld, retrieval: Retrieval, predicate: bytes, bundle: Any) -> Any:
    return verify_retrieval(
        retrieval,
        world.dataset,
        predicate,
        bundle,
        srs_path=world.srs_path,
        gateway_public_key=_gateway_key(world).public_key().public_bytes_raw(),
        allow_insecure_srs=True,
    )


# -- settings outside the verifying key ------------------------------------------------------


def test_records_read_at_scale_zero_under_the_same_key_are_refused(
    world: RetrievalWorld, tmp_path: Path
) -> None:
    """`model_input_scales` is not in the key: the responder keys the requester's own ONNX
    under settings that quantize every record at scale 0, and the key comes out the served one.
    Its proofs say that no drawn record matches; the requester reads scales only from its own
    derivation, and refuses the settings."""
    served = _served_bundle(world)
    settings = json.loads(served.settings)
    settings["model_input_scales"] = [0]
    bundle, compiled, pk = _keyed_by_responder(world, world.predicate, settings, tmp_path)
    assert bundle.verifying_key == served.verifying_key
    # Records quantized at scale 0 are the circuit's (scale 13) inputs round(x) / 2^13: the
    # match at 0.405 rounds to 0 and comes out a non-match.
    retrieval = _hiding_retrieval(
        world,
        bundle,
        (compiled, pk),
        tmp_path,
        hides={7},
        feed=lambda record: np.round(record) / 2**13,
    )
    with pytest.raises(RetrievalError) as caught:
        _verify(world, retrieval, world.predicate, bundle)
    assert caught.value.reason == RetrievalReason.PREDICATE_MISMATCH
    assert "model_input_scales" in caught.value.detail


def test_a_predicate_keyed_at_a_scale_the_requester_did_not_ask_for_is_refused(
    world: RetrievalWorld, tmp_path: Path
) -> None:
    """The same decisions with weights of 1e-3, keyed by the responder at 7 bits: every weight
    rounds to 0, the circuit holds for nothing, and 7 bits passed the old floor. The requester
    asked for 13 bits and holds the circuit to exactly that."""
    faint = predicate_onnx(tmp_path / "faint.onnx", feature=0, weight=1e-3)
    # Sized like the served predicate, so that the gateway's SRS keys it.
    settings = derive_settings(faint, _served_bundle(world).settings, 7)
    (tmp_path / "faint").mkdir()
    bundle, compiled, pk = _keyed_by_responder(world, faint, settings, tmp_path / "faint")
    hides = set(world.result.statement.match_indices())
    retrieval = _hiding_retrieval(world, bundle, (compiled, pk), tmp_path, hides=hides)
    with pytest.raises(RetrievalError) as caught:
        _verify(world, retrieval, faint, bundle)
    assert caught.value.reason == RetrievalReason.PREDICATE_MISMATCH
    assert "scale 13" in caught.value.detail


# -- what the requester asked, offline -------------------------------------------------------


@pytest.fixture(scope="module")
def retrieved(world: RetrievalWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the requester's dataset statement, its predicate and what
    `zkgate retrieve` wrote; tests edit copies of it."""
    directory = tmp_path_factory.mktemp("cli-retrieval")
    (directory / "dataset.json").write_text(world.dataset.to_json())
    (directory / "p.onnx").write_bytes(world.predicate)
    command = ["retrieve", world.dataset_id, *_checks(world, directory)]
    command += ["--sample-size", str(SAMPLE), "--out", str(directory / "r")]
    assert main([*command, "--target", world.gateway.target]) == 0
    return directory


def _checks(world: RetrievalWorld, directory: Path) -> list[str]:
    checks = ["--dataset", str(directory / "dataset.json"), "--predicate"]
    checks += [str(directory / "p.onnx"), "--allow-insecure-srs", "--srs", str(world.srs_path)]
    return checks


def _offline(world: RetrievalWorld, retrieved: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """A copy of the retrieval directory, and the command that checks it offline."""
    copy = tmp_path / "copy"
    shutil.copytree(retrieved, copy)
    key = _gateway_key(world).public_key().public_bytes_raw().hex()
    command = ["verify-retrieval", str(copy / "r"), *_checks(world, copy), "--gateway-key", key]
    return copy / "r", command


def _resign(result: dict[str, Any], key: Ed25519PrivateKey, **changes: Any) -> dict[str, Any]:
    statement = RetrievalResult.from_json(json.dumps(result)).statement
    edited = dataclasses.replace(statement, **changes).signed_by(key)
    return {**result, "statement": json.loads(edited.to_json())}


def test_an_answer_re_signed_after_the_reveal_is_refused_offline(
    world: RetrievalWorld,
    retrieved: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The responder holds the gateway key and rewrites result.json after it saw the nonce: no
    sample at all, another nonce (and so another draw), or the same request signed again until
    the draw suits it. The requester's record from before the reveal refuses all three."""
    out, offline = _offline(world, retrieved, tmp_path)
    assert main(offline) == 0
    capsys.readouterr()
    honest = json.loads((out / "result.json").read_text())
    key, nonce = _gateway_key(world), b"g" * 32
    matches = [r for r in honest["records"] if r["matched"]]
    attacks = {
        "no sample": {**_resign(honest, key, sample_size=0), "records": matches},
        "another nonce": {
            **_resign(honest, key, client_nonce_sha256=nonce_commitment(nonce)),
            "client_nonce": nonce.hex(),
        },
        "ground again": _resign(
            honest, key, issued_at_ms=honest["statement"]["body"]["issued_at_ms"] + 1
        ),
    }
    for name, forged in attacks.items():
        (out / "result.json").write_text(json.dumps(forged))
        assert main(offline) == 1, name
        assert "answer_mismatch" in capsys.readouterr().err, name


def test_a_sample_smaller_than_asked_or_empty_is_not_verified(world: RetrievalWorld) -> None:
    statement = world.result.statement
    asked_more = dataclasses.replace(world.retrieval.record, sample_size=statement.sample_size + 1)
    with pytest.raises(RetrievalError) as caught:
        world.verify(dataclasses.replace(world.retrieval, record=asked_more))
    assert caught.value.reason == RetrievalReason.SAMPLE_MISMATCH
    key, nonce = Ed25519PrivateKey.generate(), b"e" * 32
    empty = dataclasses.replace(
        statement, sample_size=0, client_nonce_sha256=nonce_commitment(nonce)
    ).signed_by(key)
    result = dataclasses.replace(
        world.result,
        statement=empty,
        client_nonce=nonce.hex(),
        records=world.result.matched_records(),
    )
    with pytest.raises(RetrievalError) as caught:
        world.verify(
            held(result),
            dataset=world.dataset.signed_by(key),
            gateway_public_key=key.public_key().public_bytes_raw(),
        )
    assert caught.value.reason == RetrievalReason.SAMPLE_MISMATCH
    assert "no left-out record is checked" in caught.value.detail
    with world.client() as client, pytest.raises(RetrievalFormatError, match="at least one"):
        client.retrieve(world.dataset_id, world.dataset, world.predicate, sample_size=0)


# -- documents built to crash the reader -----------------------------------------------------


_NESTED = "[" * 100_000


@pytest.mark.parametrize(
    ("file", "content"),
    [
        ("result.json", _NESTED),
        ("result.json", "[]"),
        ("result.json", "7"),
        ("requester.json", _NESTED),
        ("requester.json", '{"format": "zkgate.retrieval.requester-record/1"}'),
        ("bundle/settings.json", _NESTED),
        ("bundle/card.json", _NESTED),
        ("bundle/card.json", "[1]"),
        ("dataset", _NESTED),
    ],
)
def test_unreadable_documents_exit_2_without_a_traceback(
    world: RetrievalWorld,
    retrieved: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    file: str,
    content: str,
) -> None:
    out, offline = _offline(world, retrieved, tmp_path)
    target = out.parent / "dataset.json" if file == "dataset" else out / file
    target.write_text(content)
    assert main(offline) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_deeply_nested_proof_is_a_rejection(
    world: RetrievalWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = world.result.records[0].proof_digest
    result = dataclasses.replace(world.result, proofs={**world.result.proofs, digest: _NESTED})
    with pytest.raises(RetrievalError) as caught:
        world.verify(result)
    assert caught.value.reason == RetrievalReason.INVALID_PROOF


@pytest.mark.parametrize(
    "argument", [["--sample-size", "-1"], ["--sample-size", "x"], ["--scale", "3"]]
)
def test_bad_arguments_are_refused_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argument: list[str]
) -> None:
    """No gateway listens at the target: a refusal here came before any network work."""
    (tmp_path / "d.json").write_text("{}")
    command = ["retrieve", "some-id", "--dataset", str(tmp_path / "d.json"), "--predicate"]
    command += [str(tmp_path / "p.onnx"), "--srs", str(tmp_path / "k.srs"), "--out", str(tmp_path)]
    assert main([*command, *argument, "--target", "127.0.0.1:1"]) == 2
    assert "Traceback" not in capsys.readouterr().err


# -- figures ---------------------------------------------------------------------------------


def test_the_printed_catch_probability_is_the_exact_draw_without_replacement(
    world: RetrievalWorld,
    retrieved: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Measured: 59 drawn of 76 left out catch one omission 78% of the time, where
    1 - (1 - p)^k claimed 54%; and every left-out record drawn catches it always."""
    assert chance_to_draw_any(76, 1, 59) == pytest.approx(59 / 76)
    assert chance_to_draw_any(76, 76 // 20, 59) > 1 - 0.95**59
    assert chance_to_draw_any(8, 1, 8) == 1.0
    rng = np.random.default_rng(0)
    caught = sum(0 in rng.choice(76, 59, replace=False) for _ in range(4000)) / 4000
    assert caught == pytest.approx(59 / 76, abs=0.03)
    _, offline = _offline(world, retrieved, tmp_path)
    capsys.readouterr()
    assert main(offline) == 0
    left_out = len(world.result.statement.left_out())
    assert f"{SAMPLE}/{left_out} = {SAMPLE / left_out:.3f}" in capsys.readouterr().out


# -- the same consistency, for the prediction path -------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("model_input_scales", [0], "read at scale 0"),
        ("input_types", ["Int"], "reads it as Int"),
        ("model_output_scales", [0], "coarser than the input scale"),
        ("model_input_scales", [13, 13], "2 input scales"),
    ],
)
def test_settings_whose_unbound_fields_disagree_with_the_run_arguments_are_refused(
    world: RetrievalWorld, field: str, value: object, message: str
) -> None:
    settings = json.loads(_served_bundle(world).settings)
    check_settings_consistency(json.dumps(settings).encode(), ["FP32"])
    settings[field] = value
    with pytest.raises(SettingsInconsistent, match=message):
        check_settings_consistency(json.dumps(settings).encode(), ["FP32"])
    with pytest.raises(SettingsInconsistent):
        check_settings_consistency(_NESTED.encode(), ["FP32"])


def test_a_predicate_asked_at_another_scale_is_keyed_at_it_and_verifies(
    world: RetrievalWorld,
) -> None:
    """The requester's scale reaches calibration: the predicate is keyed at exactly that scale
    (not refused, not recalibrated), and finds the same matches."""
    with world.client() as client:
        retrieval = client.retrieve(
            world.dataset_id, world.dataset, world.predicate, sample_size=2, scale=10, timeout=600
        )
        bundle = client.bundle(retrieval.result.statement.predicate_model)
    run_args = json.loads(bundle.settings)["run_args"]
    assert (run_args["input_scale"], run_args["param_scale"]) == (10, 10)
    srs = world.gateway.data_dir / "srs" / f"dev-k{bundle.card.logrows}.srs"
    verified = world.verify(retrieval, srs_path=srs)
    assert [i for i, _ in verified.matches] == [i for i, _ in world.verify().matches]
