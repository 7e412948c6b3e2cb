"""Proof-of-learning through a real gateway: an intent and timestamps from the gateway, the run
recorded against them, and the model registered with its proof, verified by a prover job.

Two registrations (about 15 s each): the honest proof for its own ONNX, accepted; and the same
proof attached to another model, rejected in the card while the model itself still registers.
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.fixtures.gateway_fixtures import DIGITS
from zkgate.core.canonical import sha256_hex
from zkgate.core.card import ModelCard
from zkgate.core.learning.archive import build_archive
from zkgate.core.signing import raw_public_key
from zkgate.pol import proof_files
from zkgate.pol.recorder import record_training
from zkgate.wire import zkgate_pb2 as pb


@pytest.fixture(scope="module")
def gateway_recorded(gateway, pol_world, tmp_path_factory):
    """A run whose intent and timestamps come from the gateway over gRPC."""
    owner = Ed25519PrivateKey.generate()
    out = tmp_path_factory.mktemp("pol-e2e") / "proof"
    with gateway.client() as client:
        intent = client.issue_training_intent(raw_public_key(owner).hex(), pol_world.policy)
        manifest = record_training(
            policy=pol_world.policy,
            dataset=pol_world.dataset,
            intent=intent,
            owner=owner,
            out_dir=out,
            timestamper=lambda commitment: client.timestamp_commitment(owner, commitment),
            timestamp_every=16,
        )
        gateway_key = client.gateway_key().hex()
    return out, manifest, gateway_key


def _register(gateway, name, onnx_path, archive):
    with gateway.client() as client:
        response = client.register_model(
            name, onnx_path, DIGITS / "calibration.npy", proof_of_learning=archive
        )
        client.wait_for_job(response.job_id, timeout=600)
        model = client.model(name)
        assert model.state == pb.MODEL_STATE_READY, model.error
        return ModelCard.from_json(model.card_json), client.learning_report(name)


def test_registered_model_carries_an_accepted_proof_of_learning(gateway, gateway_recorded):
    proof_dir, manifest, gateway_key = gateway_recorded
    assert manifest.intent.issuer_public_key == gateway_key
    stamps = json.loads((proof_dir / proof_files.TIMESTAMPS).read_text())
    assert len(stamps) >= 2, "chain heads while training, and the manifest at the end"

    card, report_json = _register(
        gateway, "pol-digits", proof_dir / proof_files.MODEL, build_archive(proof_dir)
    )
    summary = card.proof_of_learning
    assert summary is not None
    assert summary.decision == "accepted", summary.reasons
    assert summary.manifest_digest == manifest.digest()
    assert summary.intent_issuer_public_key == gateway_key
    assert summary.earliest_timestamp_ms == min(s["body"]["issued_at_ms"] for s in stamps)
    assert summary.report_digest == sha256_hex(report_json.encode())
    report = json.loads(report_json)
    assert report["accepted"] and report["segments"]
    assert {o for s in report["segments"] for o in s["origins"]} >= {"first", "last", "random"}


def test_proof_for_other_weights_is_rejected_in_the_card(gateway, gateway_recorded):
    proof_dir, _, _ = gateway_recorded
    card, report_json = _register(
        gateway, "pol-mismatch", DIGITS / "model.onnx", build_archive(proof_dir)
    )
    assert card.proof_of_learning is not None
    assert card.proof_of_learning.decision == "rejected"
    assert any("another ONNX file" in r for r in card.proof_of_learning.reasons)
    assert not json.loads(report_json)["accepted"]
    assert card.proof_of_learning.rejected_before == 0
    # The same proof for the same ONNX file, sent again under another name for a fresh nonce:
    # the gateway recorded the first rejection, and the new card counts it.
    again, _ = _register(
        gateway, "pol-mismatch-again", DIGITS / "model.onnx", build_archive(proof_dir)
    )
    assert again.proof_of_learning is not None
    assert again.proof_of_learning.decision == "rejected"
    assert again.proof_of_learning.rejected_before == 1
