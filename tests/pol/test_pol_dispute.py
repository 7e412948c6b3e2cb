"""Ownership disputes: the earlier timestamp wins among valid claims, and verdicts re-check."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.attestations import issue_commitment_timestamp, sign_timestamp_request
from zkgate.core.signing import raw_public_key, sign_body
from zkgate.pol import proof_files
from zkgate.pol.dispute import Claim, Verdict, VerdictError, check_verdict, resolve_dispute


def _stamp(world, owner, commitment, now_ms):
    return json.loads(
        issue_commitment_timestamp(
            world.gateway,
            owner_public_key=raw_public_key(owner).hex(),
            commitment=commitment,
            request_signature=sign_timestamp_request(owner, commitment),
            now_ms=now_ms,
        ).to_json()
    )


def _stamped_copy(world, victim, path, commitment, now_ms):
    """The victim's run as another claim, carrying one gateway timestamp."""
    proof = victim.copy(path)
    stamps = [_stamp(world, victim.owner, commitment, now_ms)]
    (proof / proof_files.TIMESTAMPS).write_text(json.dumps(stamps))
    return proof


@pytest.fixture
def arbiter():
    return Ed25519PrivateKey.generate()


def _resolve(world, victim, claims, arbiter, first_public_ms=None):
    return resolve_dispute(
        [Claim(label, path) for label, path in claims],
        onnx=victim.onnx(),
        trusted_issuers=[world.gateway_key],
        arbiter=arbiter,
        verifier_nonce=b"\x05" * 32,
        now_ms=99_000,
        first_public_ms=first_public_ms,
    )


def _check(verdict, arbiter, world):
    check_verdict(
        Verdict.from_json(verdict.to_json()),
        arbiter_public_key=raw_public_key(arbiter).hex(),
        trusted_issuers=[world.gateway_key],
    )


def test_earlier_timestamp_wins_between_two_valid_proofs(pol_world, victim, tmp_path, arbiter):
    """Both claims carry the same valid run (the owner key leaked, say); the one whose final
    state was timestamped first wins, whichever order the claims come in."""
    early = _stamped_copy(pol_world, victim, tmp_path / "early", victim.manifest.chain_head, 2_000)
    late = _stamped_copy(pol_world, victim, tmp_path / "late", victim.manifest.digest(), 7_000)
    for order in ([("alice", early), ("bob", late)], [("bob", late), ("alice", early)]):
        verdict = _resolve(pol_world, victim, order, arbiter)
        assert verdict.winner == "alice"
        assert "2000 ms over the chain head of alice's run" in verdict.body["explanation"]
        _check(verdict, arbiter, pol_world)


def test_a_thief_stamping_link_0_early_does_not_win(pol_world, victim, tmp_path, arbiter):
    """Link 0 commits to W0 = init(seed) alone: the thief (holding the leaked key) stamps it
    before the owner trained anything, then completes the chain. The owner stamped the trained
    model's chain head later. Before, the earliest stamp over any link won: the thief."""
    thief = _stamped_copy(
        pol_world, victim, tmp_path / "thief", victim.manifest.checkpoints[0].chain, 1_500
    )
    owner = _stamped_copy(pol_world, victim, tmp_path / "owner", victim.manifest.chain_head, 9_000)
    verdict = _resolve(pol_world, victim, [("thief", thief), ("owner", owner)], arbiter)
    thief_report = next(c for c in verdict.body["claims"] if c["label"] == "thief")["report"]
    assert thief_report["earliest_timestamp_ms"] == 1_500
    assert thief_report["precedence_timestamp_ms"] is None
    # The thief's claim is valid but unstamped over its final state: undecided, not lost either.
    assert verdict.winner is None and "undecided: thief" in verdict.body["explanation"]
    _check(verdict, arbiter, pol_world)
    # Once the model's first public appearance is known to follow the owner's stamp, the owner's
    # evidence predates any copy.
    verdict = _resolve(
        pol_world, victim, [("thief", thief), ("owner", owner)], arbiter, first_public_ms=10_000
    )
    assert verdict.winner == "owner"
    assert "before the model's first public appearance at 10000 ms" in verdict.body["explanation"]
    _check(verdict, arbiter, pol_world)
    # A dishonest arbiter crediting link 0 does not check.
    body = json.loads(verdict.to_json())["body"]
    thief_report = next(c for c in body["claims"] if c["label"] == "thief")["report"]
    thief_report["precedence_timestamp"] = thief_report["earliest_timestamp"]
    thief_report["precedence_timestamp_ms"] = 1_500
    body["winner"] = "thief"
    forged = Verdict(body=body, signature=sign_body(arbiter, body))
    with pytest.raises(VerdictError, match="neither the chain head nor the manifest"):
        _check(forged, arbiter, pol_world)


def test_invalid_claim_loses_to_the_only_valid_one(pol_world, victim, spoofed, arbiter):
    verdict = _resolve(
        pol_world, victim, [("owner", victim.proof_dir), ("thief", spoofed.blindfold)], arbiter
    )
    assert verdict.winner == "owner"
    thief = next(c for c in verdict.body["claims"] if c["label"] == "thief")
    assert not thief["report"]["accepted"] and thief["report"]["reasons"]


def test_no_precedence_without_timestamps(pol_world, victim, tmp_path, arbiter):
    other = victim.copy(tmp_path / "copy")
    verdict = _resolve(pol_world, victim, [("a", victim.proof_dir), ("b", other)], arbiter)
    assert verdict.winner is None
    assert "none has a trusted timestamp over its final" in verdict.body["explanation"]


def test_tampered_or_dishonest_verdicts_do_not_check(pol_world, victim, tmp_path, arbiter):
    head = victim.manifest.chain_head
    early = _stamped_copy(pol_world, victim, tmp_path / "early", head, 2_000)
    late = _stamped_copy(pol_world, victim, tmp_path / "late", head, 7_000)
    verdict = _resolve(pol_world, victim, [("alice", early), ("bob", late)], arbiter)
    arbiter_key = raw_public_key(arbiter).hex()

    edited = json.loads(verdict.to_json())
    edited["body"]["winner"] = "bob"
    with pytest.raises(VerdictError, match="signature"):
        check_verdict(
            Verdict.from_json(json.dumps(edited)),
            arbiter_public_key=arbiter_key,
            trusted_issuers=[pol_world.gateway_key],
        )

    # A dishonest arbiter re-signs a verdict whose evidence says otherwise.
    body = json.loads(verdict.to_json())["body"]
    bob = next(c for c in body["claims"] if c["label"] == "bob")
    bob["report"]["precedence_timestamp_ms"] = 1_000
    body["winner"] = "bob"
    forged = Verdict(body=body, signature=sign_body(arbiter, body))
    with pytest.raises(VerdictError, match="timestamp time differs"):
        check_verdict(
            forged, arbiter_public_key=arbiter_key, trusted_issuers=[pol_world.gateway_key]
        )
    with pytest.raises(VerdictError, match="untrusted gateway"):
        check_verdict(verdict, arbiter_public_key=arbiter_key, trusted_issuers=[])
