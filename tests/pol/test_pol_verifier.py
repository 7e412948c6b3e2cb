"""Honest proofs-of-learning are accepted, and the report shows why."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.attestations import issue_training_intent
from zkgate.core.canonical import canonical_json
from zkgate.core.signing import raw_public_key
from zkgate.pol.recorder import record_training


@pytest.fixture(scope="session")
def honest_runs(pol_world, victim, tmp_path_factory):
    """The victim's run and two more, each from its own intent and so its own seed."""
    runs = [victim.proof_dir]
    for index in range(2):
        out = tmp_path_factory.mktemp("honest") / f"run{index}"
        pol_world.record(Ed25519PrivateKey.generate(), out)
        runs.append(out)
    return runs


@pytest.mark.parametrize("threads", [1, 2])
def test_honest_proofs_are_accepted_at_every_thread_count(pol_world, honest_runs, threads):
    for proof_dir in honest_runs:
        report = pol_world.verify(proof_dir, threads=threads)
        assert report.accepted, report.summary()
        assert report.reasons == []
        assert report.threads == threads
        for segment in report.segments:
            assert segment.passed
            assert segment.l2 <= pol_world.policy.thresholds.l2
            assert abs(segment.update_ratio - 1) <= pol_world.policy.thresholds.update_ratio


def test_report_covers_first_last_top_q_and_random_segments(pol_world, victim):
    report = pol_world.verify(victim.proof_dir)
    origins = {origin for segment in report.segments for origin in segment.origins}
    assert origins == {"first", "last", "top-q", "random"}
    assert sum("random" in s.origins for s in report.segments) == 8
    epochs = {s.epoch for s in report.segments if "top-q" in s.origins}
    assert epochs == set(range(pol_world.policy.epochs))
    assert report.segments_total == len(victim.manifest.checkpoints) - 1
    assert report.manifest_digest == victim.manifest.digest()
    # The report is canonical JSON whose digest identifies it.
    text = report.to_json()
    assert text.encode() == canonical_json(json.loads(text))
    assert report.digest() == hashlib.sha256(text.encode()).hexdigest()


def test_random_segments_depend_on_the_verifier_nonce(pol_world, victim):
    def random_segments(nonce: bytes) -> set[int]:
        report = pol_world.verify(victim.proof_dir, verifier_nonce=nonce)
        assert report.accepted
        return {s.index for s in report.segments if "random" in s.origins}

    assert random_segments(b"\x01" * 32) != random_segments(b"\x02" * 32)
    assert random_segments(b"\x01" * 32) == random_segments(b"\x01" * 32)


def test_self_issued_intent_is_accepted_with_a_note(pol_world, tmp_path):
    owner = Ed25519PrivateKey.generate()
    intent = issue_training_intent(
        owner,
        owner_public_key=raw_public_key(owner).hex(),
        policy_digest=pol_world.policy.digest(),
        now_ms=5,
    )
    record_training(
        policy=pol_world.policy,
        dataset=pol_world.dataset,
        intent=intent,
        owner=owner,
        out_dir=tmp_path / "offline",
    )
    report = pol_world.verify(tmp_path / "offline")
    assert report.accepted, report.summary()
    assert any("self-issued" in note for note in report.notes)


def test_intent_from_an_untrusted_issuer_is_rejected(pol_world, victim):
    report = pol_world.verify(victim.proof_dir, trusted_issuers=[])
    assert not report.accepted
    assert any("neither a trusted gateway nor the owner" in r for r in report.reasons)
