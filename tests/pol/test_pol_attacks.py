"""The attack suite: every known attack on a proof-of-learning, built for real, and the reason
the hardened verifier gives for rejecting it (docs/proof-of-learning.md tabulates both).

Every forger here holds the signing key it uses and rewrites hashes, chain and manifest
consistently: a signature over garbage is still garbage, so the content itself must be caught.
Most attacks come from zkgate.pol.known_attacks; momentum steering and the trojan graph are
written independently of it (tests/fixtures/pol_thief_fixtures.py, pol_trojan_fixtures.py), so
that a blind spot shared by that module and the verifier cannot hide them.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import onnx
import pytest
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from onnx.reference import ReferenceEvaluator

from tests.fixtures.pol_fixtures import each_verifier_nonce
from tests.fixtures.pol_thief_fixtures import LOOSE_STATE_LINF
from tests.fixtures.pol_trojan_fixtures import GATED_EXAMPLES, serve_graph
from zkgate.core.attestations import issue_commitment_timestamp, sign_timestamp_request
from zkgate.core.learning.manifest import Manifest
from zkgate.core.signing import raw_public_key
from zkgate.pol import known_attacks, proof_files
from zkgate.pol.architecture import build_model
from zkgate.pol.dataset import Dataset
from zkgate.pol.training import TrainingRun


def _reasons(report) -> str:
    assert not report.accepted, "the verifier accepted a spoof"
    return "\n".join(report.reasons)


def test_tampered_checkpoint_rehashed_and_resigned(pol_world, victim, tmp_path):
    proof = victim.copy(tmp_path / "proof")
    known_attacks.tamper_checkpoint(proof, victim.owner, index=1)
    reasons = _reasons(pol_world.verify(proof))
    assert "first segment" in reasons
    assert "hash" not in reasons, "the forger re-hashed: the replay, not a hash, must catch it"


def test_reordered_batches(pol_world, tmp_path):
    owner = Ed25519PrivateKey.generate()
    intent = pol_world.intent(owner)
    run = known_attacks.ReorderedRun(pol_world.policy, pol_world.dataset, intent.seed())
    known_attacks.write_proof(
        tmp_path / "proof",
        intent=intent,
        policy=pol_world.policy,
        dataset=pol_world.dataset,
        states=known_attacks.train_states(run, pol_world.policy),
        owner=owner,
    )
    report = pol_world.verify(tmp_path / "proof")
    reasons = _reasons(report)
    assert "does not reproduce the logged checkpoints" in reasons
    assert all(not s.passed for s in report.segments)


def test_substituted_dataset_example(pol_world, tmp_path):
    owner = Ed25519PrivateKey.generate()
    intent = pol_world.intent(owner)
    features = pol_world.dataset.features.copy()
    features[42] = np.float32(1.0) - features[42]
    substituted = Dataset(features, pol_world.dataset.labels)
    run = TrainingRun(pol_world.policy, substituted, intent.seed())
    known_attacks.write_proof(
        tmp_path / "proof",
        intent=intent,
        policy=pol_world.policy,
        dataset=substituted,
        states=known_attacks.train_states(run, pol_world.policy),
        owner=owner,
    )
    assert "is not the committed root" in _reasons(pol_world.verify(tmp_path / "proof"))


def test_hyperparameter_lie_tiny_learning_rate(pol_world, victim, tmp_path):
    proof = victim.copy(tmp_path / "proof")
    lie = replace(pol_world.policy, optimizer=replace(pol_world.policy.optimizer, lr=1e-6))
    known_attacks.claim_policy(proof, victim.owner, lie)
    reasons = _reasons(pol_world.verify(proof))
    assert "not the one its training intent registered" in reasons
    # With the registered policy at hand, the verifier names the lie.
    reasons = _reasons(pol_world.verify(proof, registered_policy=pol_world.policy))
    assert "optimizer.lr: 1e-06 in the proof, 0.05 registered" in reasons


def test_interpolation_spoof_from_a_rank_matched_fake_init(pol_world, spoofed):
    reasons = _reasons(pol_world.verify(spoofed.interpolation))
    assert "checkpoint 0 is not init(seed)" in reasons
    assert "does not reproduce the logged checkpoints" in reasons
    # The update-size ratio is what gives the tiny steps away: replay barely moves.
    report = pol_world.verify(spoofed.interpolation)
    assert all(s.update_ratio < 0.01 for s in report.segments)
    reasons = _reasons(pol_world.verify(spoofed.interpolation, registered_policy=pol_world.policy))
    assert "optimizer.lr" in reasons


@each_verifier_nonce
def test_blindfold_top_q_spoof_is_caught_by_random_segments(pol_world, spoofed, nonce):
    report = pol_world.verify(spoofed.blindfold, verifier_nonce=nonce)
    _reasons(report)
    # Everything else is honest: W0, the policy, the update sizes, and every top-Q, first and
    # last segment. Only the random draw, unknown to the spoofer, lands on made-up steps.
    assert len(report.reasons) == 1
    assert report.reasons[0].startswith("replay of") and "random segment" in report.reasons[0]
    assert all(s.passed for s in report.segments if "random" not in s.origins)


def test_final_checkpoint_must_match_the_onnx(pol_world, victim, tmp_path):
    other = tmp_path / "other"
    pol_world.record(Ed25519PrivateKey.generate(), other)
    proof = victim.copy(tmp_path / "proof")
    known_attacks.swap_model(proof, victim.owner, (other / proof_files.MODEL).read_bytes())
    assert "no ONNX initializer equals final checkpoint" in _reasons(pol_world.verify(proof))
    # And the proof must be about the model being served, not merely some model.
    served = (other / proof_files.MODEL).read_bytes()
    reasons = _reasons(pol_world.verify(victim.proof_dir, onnx=served))
    assert "another ONNX file" in reasons


def _logits(pol_world, params, features: np.ndarray) -> np.ndarray:
    """What the MLP with these parameters answers, computed by torch, not by any ONNX graph."""
    model = build_model(pol_world.policy.architecture)
    model.load_state_dict(params)
    with torch.no_grad():
        return model(torch.from_numpy(features)).numpy()


def _served(onnx_bytes: bytes, features: np.ndarray) -> np.ndarray:
    evaluator = ReferenceEvaluator(onnx.load_from_string(onnx_bytes))
    return np.concatenate([evaluator.run(None, {"input": row[None]})[0] for row in features])


def test_the_trojan_passes_the_old_binding_and_serves_the_stolen_model(
    pol_world, victim, stolen_params, trojan
):
    """What the old check saw (FLOAT initializers, the first 16 examples) is the proven model;
    everything else is the stolen one."""
    graph = onnx.load_from_string(trojan).graph
    floats = {t.name for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    assert floats == set(victim.final_params())
    features = pol_world.dataset.features
    gated, rest = features[:GATED_EXAMPLES], features[GATED_EXAMPLES : GATED_EXAMPLES + 300]
    proven = victim.final_params()
    assert np.max(np.abs(_served(trojan, gated) - _logits(pol_world, proven, gated))) < 1e-4
    served = _served(trojan, rest).argmax(axis=1)
    assert (served == _logits(pol_world, stolen_params, rest).argmax(axis=1)).all()
    assert np.max(np.abs(_served(trojan, rest) - _logits(pol_world, proven, rest))) > 0.1


@each_verifier_nonce
def test_trojan_graph_is_rejected(pol_world, victim, trojan, tmp_path, nonce):
    proof = victim.copy(tmp_path / "proof")
    serve_graph(proof, victim.owner, trojan)
    report = pol_world.verify(proof, verifier_nonce=nonce)
    assert not report.accepted and not report.unverifiable
    reasons = "\n".join(report.reasons)
    assert (
        "model.onnx uses operators an MLP does not: Abs, Constant, Less, ReduceMin, ReduceSum, "
        "Sub, Where" in reasons
    )
    assert "ONNX initializer axes is not a parameter of the final checkpoint" in reasons
    assert all(r.startswith("final checkpoint vs model.onnx") for r in report.reasons)


def test_pickle_payload_is_refused_unopened(pol_world, victim, tmp_path):
    proof = victim.copy(tmp_path / "proof")
    marker = tmp_path / "pwned"
    known_attacks.plant_pickle(proof, victim.owner, index=3, marker=marker)
    reasons = _reasons(pol_world.verify(proof))
    assert "checkpoint 3" in reasons and "not a safetensors file" in reasons
    assert not marker.exists()


def _timestamp(issuer, owner, commitment, now_ms):
    return issue_commitment_timestamp(
        issuer,
        owner_public_key=raw_public_key(owner).hex(),
        commitment=commitment,
        request_signature=sign_timestamp_request(owner, commitment),
        now_ms=now_ms,
    )


def test_forged_timestamp_receipts(pol_world, victim, tmp_path):
    head = victim.manifest.checkpoints[5].chain
    genuine = _timestamp(pol_world.gateway, victim.owner, head, 2_000)
    self_made = _timestamp(Ed25519PrivateKey.generate(), victim.owner, head, 1)
    backdated = json.loads(genuine.to_json())
    backdated["body"]["issued_at_ms"] = 1
    for forged, expected in (
        (json.loads(self_made.to_json()), "not a trusted gateway"),
        (backdated, "forged or corrupt"),
    ):
        proof = tmp_path / expected.replace(" ", "-")
        victim.copy(proof)
        (proof / proof_files.TIMESTAMPS).write_text(json.dumps([forged]))
        assert expected in _reasons(pol_world.verify(proof))
    proof = victim.copy(tmp_path / "genuine")
    (proof / proof_files.TIMESTAMPS).write_text(json.dumps([json.loads(genuine.to_json())]))
    report = pol_world.verify(proof)
    assert report.accepted and report.earliest_timestamp_ms == 2_000


def test_the_momentum_thief_ends_on_the_stolen_model(pol_world, victim, momentum_thief):
    """What makes the attack worth stopping: the thief's model is the victim's, functionally."""
    features = pol_world.dataset.features
    labels = [
        _logits(pol_world, params, features).argmax(axis=1)
        for params in (victim.final_params(), momentum_thief.final)
    ]
    assert float((labels[0] == labels[1]).mean()) > 0.95


@each_verifier_nonce
def test_momentum_steering_is_rejected(pol_world, momentum_thief, nonce):
    report = pol_world.verify(momentum_thief.proof_dir, verifier_nonce=nonce)
    assert not report.accepted and not report.unverifiable
    reasons = "\n".join(report.reasons)
    assert (
        f"state_linf threshold {LOOSE_STATE_LINF:.3g} is looser than this verifier's ceiling"
        in (reasons)
    )
    # The attack is real: every parameter replays within the policy's own l2 threshold, and only
    # the momentum the thief logged gives it away.
    assert all(s.l2 == 0.0 for s in report.segments)
    # Segment 0 is honest but ends on steering momentum; the last ends on replay's own.
    steered = [s for s in report.segments if s.index < report.segments_total - 1]
    assert steered and all(s.state_linf > report.ceilings["state_linf"] for s in steered)
    assert all(s.state_linf <= LOOSE_STATE_LINF for s in steered)
    assert "does not reproduce the logged checkpoints" in reasons


def test_copied_run_resigned_by_someone_else(pol_world, victim, tmp_path):
    proof = victim.copy(tmp_path / "proof")
    manifest = Manifest.from_json((proof / proof_files.MANIFEST).read_bytes())
    thief = Ed25519PrivateKey.generate()
    (proof / proof_files.MANIFEST).write_text(manifest.signed_by(thief).to_json())
    assert "signed by the owner the training intent names" in _reasons(pol_world.verify(proof))


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda p: (p / proof_files.MANIFEST).write_text("{not json"), "manifest unreadable"),
        (lambda p: (p / "checkpoints/000004.safetensors").write_bytes(b"\x01" * 9), "hash"),
        (lambda p: (p / proof_files.DATASET).unlink(), "dataset"),
        (lambda p: (p / "checkpoints/000002.safetensors").unlink(), "cannot be read"),
    ],
)
def test_damaged_proofs_get_a_clear_reason(pol_world, victim, tmp_path, damage, expected):
    proof = victim.copy(tmp_path / "proof")
    damage(proof)
    assert expected in _reasons(pol_world.verify(proof))


def test_an_absurd_policy_is_refused_before_any_work(pol_world, victim, tmp_path):
    proof = victim.copy(tmp_path / "proof")
    known_attacks.claim_policy(proof, victim.owner, replace(pol_world.policy, epochs=10**9))
    report = pol_world.verify(proof)
    assert report.unverifiable and "7,125,000,001 checkpoints; 2 to 10,000" in _reasons(report)
    known_attacks.claim_policy(proof, victim.owner, replace(pol_world.policy, epochs=9))
    assert "the proof has 58 checkpoints; the policy makes 66" in _reasons(pol_world.verify(proof))
