"""The gateway's part in proof-of-learning: it signs training intents and commitment timestamps,
keeps the policies it signs intents for, checks uploaded archives, and hands out the reports
provers wrote.

The gateway is the party whose clock and randomness the owner cannot control: an intent's nonce
fixes the training seed only once the intent exists, and a timestamp says when the gateway saw a
commitment. Both are signed with the gateway's identity key, the one clients already pin for
receipts. Verifying an archive needs torch and minutes, so that happens on a prover; here only
what is cheap and certain is checked, so a caller hears about a broken upload at once.

A policy is the trainer's own document, thresholds included. So the gateway reads it before it
signs an intent for it, refuses one it would not verify (zkgate.core.learning.admission), and
keeps it: registration then verifies the proof against the kept copy and this gateway's replay
minimum, never against terms the proof brings along.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.attestations import (
    AttestationError,
    CommitmentTimestamp,
    TrainingIntent,
    issue_commitment_timestamp,
    issue_training_intent,
)
from zkgate.core.card import LEARNING_REPORT_ARTIFACT, ModelCard
from zkgate.core.documents import quote
from zkgate.core.learning.admission import admission_problems, plan_problems
from zkgate.core.learning.archive import ArchiveError, check_archive
from zkgate.core.learning.manifest import Manifest, ManifestError
from zkgate.core.learning.policy import PolicyError, ReplayPlan, TrainingPolicy
from zkgate.core.signing import raw_public_key
from zkgate.gateway.errors import FailedPrecondition, InvalidRequest, NotReady
from zkgate.gateway.service import GatewayService
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.queue.catalog import ModelRecord
from zkgate.prover.queue.learning_ledger import LearningLedger


class NoProofOfLearning(NotReady):
    """The model is ready but was registered without a proof-of-learning, so it has no report;
    like NotReady, asking again will not help until the model is registered anew."""


@dataclass(frozen=True)
class StoredReport:
    report_json: str
    digest: str


def _now_ms() -> int:
    return int(time.time() * 1000)


class LearningAttestor:
    """Signs proof-of-learning statements with the gateway's identity key, and keeps the
    policies it signs intents for in `ledger`. `minimum_replay`: the least a registration's
    verification replays; intents for policies that plan less are refused, so an owner learns
    it before training."""

    def __init__(
        self,
        key: Ed25519PrivateKey,
        ledger: LearningLedger,
        *,
        minimum_replay: ReplayPlan,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self._key = key
        self._public_key = raw_public_key(key).hex()
        self._ledger = ledger
        self._minimum_replay = minimum_replay
        self._clock_ms = clock_ms

    def issue_intent(
        self, owner_public_key: str, policy_digest: str, policy_json: str
    ) -> TrainingIntent:
        policy = _admitted_policy(policy_digest, policy_json, self._minimum_replay)
        try:
            intent = issue_training_intent(
                self._key,
                owner_public_key=owner_public_key,
                policy_digest=policy_digest,
                now_ms=self._clock_ms(),
            )
        except AttestationError as exc:
            raise InvalidRequest(f"training intent refused: {exc}") from exc
        self._ledger.keep_policy(policy_digest, policy.to_json())
        return intent

    def registration_terms(self, archive: bytes) -> dict[str, object]:
        """The registration job's terms for this proof-of-learning upload: whose intents count
        (only this gateway's), the least to replay, and the policy kept for the intent when this
        gateway signed it. Refuses an archive no prover could unpack, and one whose intent this
        gateway signed for a policy it does not hold."""
        manifest = _checked_manifest(archive)
        try:
            intent = Manifest.from_json(manifest).intent
        except (ManifestError, AttestationError, PolicyError) as exc:
            raise InvalidRequest(f"proof_of_learning refused: manifest: {exc}") from exc
        terms: dict[str, object] = {
            "trusted_intent_issuers": [self._public_key],
            "learning_replay": asdict(self._minimum_replay),
        }
        if intent.issuer_public_key != self._public_key:
            return terms
        kept = self._ledger.kept_policy(intent.policy_digest)
        if kept is None:
            raise FailedPrecondition(
                f"this gateway signed the proof's training intent but keeps no policy with digest "
                f"{quote(intent.policy_digest)}; ask for a new intent with the policy "
                "(`zkgate pol record --gateway ...`) and train again"
            )
        return {**terms, "learning_policy_json": kept}

    def timestamp(
        self, owner_public_key: str, commitment: str, request_signature: bytes
    ) -> CommitmentTimestamp:
        try:
            return issue_commitment_timestamp(
                self._key,
                owner_public_key=owner_public_key,
                commitment=commitment,
                request_signature=request_signature,
                now_ms=self._clock_ms(),
            )
        except AttestationError as exc:
            raise InvalidRequest(
                f"timestamp refused: {exc}; sign the request with "
                "zkgate.core.attestations.sign_timestamp_request(owner_key, commitment)"
            ) from exc


def _admitted_policy(
    policy_digest: str, policy_json: str, minimum_replay: ReplayPlan
) -> TrainingPolicy:
    """The policy, if it is readable, is the one `policy_digest` names, and passes admission;
    InvalidRequest with every reason otherwise."""
    try:
        policy = TrainingPolicy.from_json(policy_json)
    except PolicyError as exc:
        raise InvalidRequest(
            f"training intent refused: policy_json is not a training policy: {exc}; send the "
            "policy `zkgate pol calibrate` wrote"
        ) from exc
    if policy.digest() != policy_digest:
        raise InvalidRequest(
            f"training intent refused: policy_json has digest {policy.digest()}, not the "
            f"policy_digest {quote(policy_digest)} the request names"
        )
    problems = admission_problems(policy) + plan_problems(policy, minimum_replay)
    if problems:
        raise InvalidRequest("training intent refused: " + "; ".join(problems))
    return policy


def _checked_manifest(archive: bytes) -> bytes:
    """Refuses an archive no prover could unpack, before a registration job is queued for it."""
    try:
        return check_archive(archive)
    except ArchiveError as exc:
        raise InvalidRequest(f"proof_of_learning refused: {exc}") from exc


def stored_report(record: ModelRecord, store: ArtifactStore) -> StoredReport:
    """The report a prover stored for a ready model; the card names it by digest."""
    assert record.card_json is not None
    card = ModelCard.from_json(record.card_json)
    digest = card.artifacts.get(LEARNING_REPORT_ARTIFACT)
    if card.proof_of_learning is None or digest is None:
        raise NoProofOfLearning(
            f"model {record.name!r} was registered without a proof-of-learning; register it "
            "again with one (`zkgate models add ... --proof-of-learning FILE`)"
        )
    return StoredReport(report_json=store.read_bytes(digest).decode("utf-8"), digest=digest)


class LearningReports:
    """Hands out the reports provers stored, for models the base service has ready."""

    def __init__(self, service: GatewayService, store: ArtifactStore) -> None:
        self._service = service
        self._store = store

    def report(self, name: str) -> StoredReport:
        return stored_report(self._service.ready_model(name), self._store)
