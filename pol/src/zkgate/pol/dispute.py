"""Ownership disputes: which of several proofs-of-learning for the same model came first.

Every claim is verified in full against the disputed ONNX file. Invalid claims lose, with their
reasons. Among valid ones, the earliest gateway timestamp over a commitment in the claim's own
chain wins: a chain link commits to every checkpoint before it, so its timestamp shows the run
had reached that point by then, which a copier cannot show for a time before it copied. A valid
claim without any timestamp wins only if it is the only valid claim.

The verdict is signed by the arbiter and embeds the full reports and the winning timestamps, so
anyone can re-check it without trusting the arbiter's arithmetic.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.client.attestations import AttestationError, CommitmentTimestamp
from zkgate.client.canonical import canonical_json, sha256_hex
from zkgate.client.documents import parse_object
from zkgate.client.signing import (
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
    "trusted gateway timestamp over a commitment in the claim's own chain wins; a claim without "
    "timestamps wins only as the sole valid claim"
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
) -> Verdict:
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
        )
        evidence.append({"label": claim.label, "report": report.to_json_obj()})
    winner, explanation = decide(evidence)
    body = {
        "format": VERDICT_FORMAT,
        "arbiter_public_key": raw_public_key(arbiter).hex(),
        "onnx_sha256": sha256_hex(onnx),
        "trusted_issuers": sorted(trusted_issuers),
        "issued_at_ms": now_ms,
        "rule": RULE,
        "claims": evidence,
        "winner": winner,
        "explanation": explanation,
    }
    return Verdict(body=body, signature=sign_body(arbiter, body))


def decide(evidence: list[dict[str, Any]]) -> tuple[str | None, str]:
    """Applies RULE to the claims' reports; shared by the arbiter and by anyone re-checking."""
    valid = [item for item in evidence if item["report"]["accepted"]]
    if not valid:
        return None, "no claim's proof-of-learning verifies against the disputed model"
    stamped = [item for item in valid if item["report"]["earliest_timestamp_ms"] is not None]
    if not stamped:
        if len(valid) == 1:
            return valid[0]["label"], f"{valid[0]['label']} holds the only valid proof"
        return None, "several valid proofs and none timestamped: precedence cannot be shown"
    stamped.sort(key=lambda item: item["report"]["earliest_timestamp_ms"])
    first = stamped[0]
    first_ms = first["report"]["earliest_timestamp_ms"]
    if len(stamped) > 1 and stamped[1]["report"]["earliest_timestamp_ms"] == first_ms:
        return None, f"two valid claims share the earliest timestamp ({first_ms} ms)"
    return first["label"], (
        f"{first['label']} holds the earliest timestamped commitment ({first_ms} ms since the "
        "epoch) among the valid claims"
    )


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
    claims = verdict.body["claims"]
    for item in claims:
        report = item["report"]
        statement = report.get("earliest_timestamp")
        if statement is None:
            continue
        try:
            stamp = CommitmentTimestamp.from_json(canonical_json(statement))
            stamp.verify()
        except AttestationError as exc:
            raise VerdictError(f"claim {item['label']}: timestamp evidence: {exc}") from exc
        if stamp.issuer_public_key not in trusted_issuers:
            raise VerdictError(f"claim {item['label']}: timestamp from an untrusted gateway")
        if stamp.issued_at_ms != report["earliest_timestamp_ms"]:
            raise VerdictError(f"claim {item['label']}: timestamp time differs from the report")
        if stamp.owner_public_key != report["owner_public_key"]:
            raise VerdictError(f"claim {item['label']}: timestamp issued to another owner")
    winner, _ = decide(claims)
    if winner != verdict.winner:
        raise VerdictError(f"the evidence gives winner {winner!r}, the verdict {verdict.winner!r}")
