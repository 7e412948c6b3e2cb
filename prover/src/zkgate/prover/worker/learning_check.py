"""Checking a proof-of-learning during a registration job.

The verifier lives in zkgate-pol, which needs torch; a prover that never sees such proofs should
not carry it, so it is imported only when a registration brings an archive. The verifier's
nonce is drawn here, at job time: the owner committed to the run before it existed, so the
owner could not have known which training segments would be replayed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkgate.core.card import LEARNING_ACCEPTED, LEARNING_REJECTED, LearningSummary
from zkgate.core.learning.policy import ReplayPlan, TrainingPolicy
from zkgate.prover.circuits.registration_checks import RegistrationError

VERIFIER_NONCE_BYTES = 32


@dataclass(frozen=True)
class LearningVerdict:
    summary: LearningSummary
    # The verifier's full report (canonical JSON); `summary.report_digest` is its SHA-256.
    report_json: str


@dataclass(frozen=True)
class LearningTerms:
    """What the gateway fixed for a registration's proof-of-learning, from the job payload:
    whose intents to believe, the policy it kept when it signed the intent (absent for an intent
    from elsewhere, whose policy only the intent's digest binds), and the least to replay."""

    trusted_issuers: list[str]
    registered_policy: TrainingPolicy | None
    minimum_replay: ReplayPlan

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> LearningTerms:
        """A job queued before the gateway sent a replay plan gets the default: the verifier's
        own minimum."""
        policy_json = payload.get("learning_policy_json")
        return cls(
            trusted_issuers=list(payload["trusted_intent_issuers"]),
            registered_policy=None
            if policy_json is None
            else TrainingPolicy.from_json(policy_json),
            minimum_replay=ReplayPlan(**payload.get("learning_replay", {})),
        )


def check_proof_of_learning(
    archive: bytes, *, onnx: bytes, terms: LearningTerms, scratch: Path
) -> LearningVerdict:
    """A rejected proof is a verdict, not an error: the card reports it and the model still
    serves. Only a prover unable to verify at all raises RegistrationError."""
    try:
        from zkgate.pol.verification import verify_archive
    except ImportError as exc:
        raise RegistrationError(
            "this registration carries a proof-of-learning, and this prover cannot verify one "
            f"({exc}); install the verifier on the prover nodes: "
            "pip install 'zkgate-prover[learning]'"
        ) from exc
    report = verify_archive(
        archive,
        onnx=onnx,
        trusted_issuers=terms.trusted_issuers,
        verifier_nonce=os.urandom(VERIFIER_NONCE_BYTES),
        scratch=scratch,
        registered_policy=terms.registered_policy,
        minimum_replay=terms.minimum_replay,
    )
    summary = LearningSummary(
        decision=LEARNING_ACCEPTED if report.accepted else LEARNING_REJECTED,
        reasons=list(report.reasons),
        report_digest=report.digest(),
        manifest_digest=report.manifest_digest,
        owner_public_key=report.owner_public_key,
        intent_issuer_public_key=report.intent_issuer_public_key,
        earliest_timestamp_ms=report.earliest_timestamp_ms,
    )
    return LearningVerdict(summary=summary, report_json=report.to_json())
