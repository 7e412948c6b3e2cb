"""Ownership disputes: which of several proofs-of-learning for the same model came first.

Every claim is verified in full against the disputed ONNX file; invalid claims lose, with their
reasons. Among valid ones, precedence goes by the earliest trusted gateway timestamp over a
commitment to the claim's final trained state: its chain head (which commits to every
checkpoint) or its manifest. Earlier links do not count: link 0 commits only to W0 = init(seed),
which takes no training, so a thief could stamp it before stealing anything and complete the
chain later. Timestamps spread over the run (`--timestamp-every`) show how it progressed; the
final state's timestamp is what shows who had the trained model, and when.

A valid claim with no such timestamp is undecided, not lost: its owner may simply not have
stamped. It gives way only to evidence that predates the model's first public appearance (its
registration, say, given as `first_public_ms`), since nobody could have copied the model before
it was public. The verdict names the commitment that decided it and why; it is signed by the
arbiter and embeds the reports and the deciding timestamp statements, so anyone can re-check it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.attestations import AttestationError, CommitmentTimestamp
from zkgate.core.canonical import canonical_json, sha256_hex
from zkgate.core.documents import parse_object
from zkgate.core.learning.admission import MINIMUM_REPLAY
from zkgate.core.learning.policy import ReplayPlan
from zkgate.core.signing import (
    SignatureError,
    parse_public_key_hex,
    raw_public_key,
    sign_body,
    verify_body,
)
from zkgate.pol.verification import verify_proof

VERDICT_FORMAT = "zkgate.pol.verdict/1"
RULE = (
    "among claims whose proof-of-learning verifies against the disputed model, the earliest "
    "trusted gateway timestamp over a commitment to the claim's final trained state (chain head "
    "or manifest) wins; a valid claim without one is undecided, not lost, unless the earliest "
    "such timestamp predates the model's first public appearance; ties are undecided"
)


class VerdictError(ValueError):
    """A verdict that is malformed, unsigned by the arbiter, or inconsistent with its evidence."""


@dataclass(frozen=True)
class Claim:
    label: str
    proof_dir: Path


@dataclass(frozen=True)
class Verdict:
    body: dict[str, Any]
    signature: bytes

    @property
    def winner(self) -> str | None:
        winner = self.body["winner"]
        return None if winner is None else str(winner)

    def to_json(self) -> str:
        return json.dumps({"body": self.body, "signature": self.signature.hex()}, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> Verdict:
        try:
            raw = parse_object(text, what="verdict")
            body = raw.object("body")
            signature = bytes.fromhex(raw.text("signature"))
        except ValueError as exc:  # DocumentError, or a signature that is not hex
            raise VerdictError(f"malformed verdict: {exc}") from exc
        if body.raw.get("format") != VERDICT_FORMAT:
            raise VerdictError(f"not a dispute verdict: want format {VERDICT_FORMAT!r}")
        return cls(body=body.raw, signature=signature)


def resolve_dispute(
    claims: Sequence[Claim],
    *,
    onnx: bytes,
    trusted_issuers: Collection[str],
    arbiter: Ed25519PrivateKey,
    verifier_nonce: bytes,
    now_ms: int,
    first_public_ms: int | None = None,
    minimum_replay: ReplayPlan = MINIMUM_REPLAY,
) -> Verdict:
    """`first_public_ms`: when the disputed model first became public (its registration), if
    known; evidence older than that outranks a claim without timestamps. `minimum_replay`: the
    least each claim's verification replays."""
    labels = [claim.label for claim in claims]
    if len(claims) < 2 or len(set(labels)) != len(labels):
        raise ValueError("a dispute needs two or more claims with distinct labels")
    evidence = []
    for claim in claims:
        report = verify_proof(
            claim.proof_dir,
            trusted_issuers=trusted_issuers,
            verifier_nonce=verifier_nonce,
            onnx=onnx,
            minimum_replay=minimum_replay,
        )
        evidence.append({"label": claim.label, "report": report.to_json_obj()})
    winner, explanation = decide(evidence, first_public_ms)
    body = {
        "format": VERDICT_FORMAT,
        "arbiter_public_key": raw_public_key(arbiter).hex(),
        "onnx_sha256": sha256_hex(onnx),
        "trusted_issuers": sorted(trusted_issuers),
        "issued_at_ms": now_ms,
        "first_public_ms": first_public_ms,
        "rule": RULE,
        "claims": evidence,
        "winner": winner,
        "explanation": explanation,
    }
    return Verdict(body=body, signature=sign_body(arbiter, body))


def decide(evidence: list[dict[str, Any]], first_public_ms: int | None) -> tuple[str | None, str]:
    """Applies RULE to the claims' reports; shared by the arbiter and by anyone re-checking."""
    valid = [item for item in evidence if item["report"]["accepted"]]
    if not valid:
        return None, "no claim's proof-of-learning verifies against the disputed model"
    if len(valid) == 1:
        return valid[0]["label"], f"{valid[0]['label']} holds the only valid proof"
    stamped = sorted(
        (item for item in valid if item["report"]["precedence_timestamp_ms"] is not None),
        key=lambda item: item["report"]["precedence_timestamp_ms"],
    )
    unstamped = [item["label"] for item in valid if item not in stamped]
    if not stamped:
        return None, (
            "several valid proofs and none has a trusted timestamp over its final trained "
            "state: precedence cannot be shown"
        )
    first = stamped[0]
    first_ms = first["report"]["precedence_timestamp_ms"]
    if len(stamped) > 1 and stamped[1]["report"]["precedence_timestamp_ms"] == first_ms:
        return None, f"two valid claims share the earliest final-state timestamp ({first_ms} ms)"
    decided_by = (
        f"the trusted timestamp at {first_ms} ms over {first['report']['precedence_commitment']} "
        f"of {first['label']}'s run (it commits to the final trained weights)"
    )
    if unstamped and not (first_public_ms is not None and first_ms < first_public_ms):
        return None, (
            f"undecided: {', '.join(unstamped)} holds a valid proof with no trusted timestamp "
            f"over its final state, which is not a loss; {decided_by} does not predate the "
            "model's first public appearance"
            + ("" if first_public_ms is not None else " (none was given)")
        )
    why = "earliest among the valid claims" + (
        f", and before the model's first public appearance at {first_public_ms} ms"
        if unstamped
        else ""
    )
    return first["label"], f"{first['label']} wins by {decided_by}: {why}"


def check_verdict(
    verdict: Verdict, *, arbiter_public_key: str, trusted_issuers: Collection[str]
) -> None:
    """Raises VerdictError unless the arbiter signed it, every winning timestamp is a genuine
    statement from a trusted gateway, and the winner follows from the embedded reports."""
    try:
        key = parse_public_key_hex(arbiter_public_key, "arbiter public key")
        if verdict.body.get("arbiter_public_key") != arbiter_public_key:
            raise VerdictError("the verdict names another arbiter")
        verify_body(key, verdict.body, verdict.signature, "verdict")
    except SignatureError as exc:
        raise VerdictError(str(exc)) from exc
    try:
        claims = verdict.body["claims"]
        for item in claims:
            _check_precedence(item)
        winner, _ = decide(claims, verdict.body.get("first_public_ms"))
    except (KeyError, TypeError, AttributeError) as exc:
        raise VerdictError(f"the verdict's evidence is malformed: {exc!r}") from exc
    trusted = set(trusted_issuers)
    for item in claims:
        issuer = (
            (item["report"].get("precedence_timestamp") or {})
            .get("body", {})
            .get("issuer_public_key")
        )
        if issuer is not None and issuer not in trusted:
            raise VerdictError(f"claim {item['label']}: timestamp from an untrusted gateway")
    if winner != verdict.winner:
        raise VerdictError(f"the evidence gives winner {winner!r}, the verdict {verdict.winner!r}")


def _check_precedence(item: dict[str, Any]) -> None:
    """The deciding statement is genuine, for this owner, at the reported time, and over the
    claim's chain head or manifest, not some earlier link."""
    report = item["report"]
    statement = report.get("precedence_timestamp")
    if statement is None:
        if report.get("precedence_timestamp_ms") is not None:
            raise VerdictError(f"claim {item['label']}: a timestamp time without its statement")
        return
    try:
        stamp = CommitmentTimestamp.from_json(canonical_json(statement))
        stamp.verify()
    except AttestationError as exc:
        raise VerdictError(f"claim {item['label']}: timestamp evidence: {exc}") from exc
    if stamp.issued_at_ms != report["precedence_timestamp_ms"]:
        raise VerdictError(f"claim {item['label']}: timestamp time differs from the report")
    if stamp.owner_public_key != report["owner_public_key"]:
        raise VerdictError(f"claim {item['label']}: timestamp issued to another owner")
    if stamp.commitment not in (report["chain_head"], report["manifest_digest"]):
        raise VerdictError(
            f"claim {item['label']}: the timestamp covers neither the chain head nor the manifest"
        )
