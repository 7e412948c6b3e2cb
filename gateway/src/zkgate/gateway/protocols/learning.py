"""The gateway's part in proof-of-learning: it signs training intents and commitment timestamps,
checks uploaded archives, and hands out the reports provers wrote.

The gateway is the party whose clock and randomness the owner cannot control: an intent's nonce
fixes the training seed only once the intent exists, and a timestamp says when the gateway saw a
commitment. Both are signed with the gateway's identity key, the one clients already pin for
receipts. Verifying an archive needs torch and minutes, so that happens on a prover; here only
what is cheap and certain is checked, so a caller hears about a broken upload at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.attestations import (
    AttestationError,
    CommitmentTimestamp,
    TrainingIntent,
    issue_commitment_timestamp,
    issue_training_intent,
)
from zkgate.core.card import LEARNING_REPORT_ARTIFACT, ModelCard
from zkgate.core.learning.archive import ArchiveError, check_archive
from zkgate.gateway.errors import InvalidRequest, NotReady
from zkgate.gateway.service import GatewayService
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.queue.catalog import ModelRecord


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
    """Signs proof-of-learning statements with the gateway's identity key."""

    def __init__(self, key: Ed25519PrivateKey, *, clock_ms: Callable[[], int] = _now_ms) -> None:
        self._key = key
        self._clock_ms = clock_ms

    def issue_intent(self, owner_public_key: str, policy_digest: str) -> TrainingIntent:
        try:
            return issue_training_intent(
                self._key,
                owner_public_key=owner_public_key,
                policy_digest=policy_digest,
                now_ms=self._clock_ms(),
            )
        except AttestationError as exc:
            raise InvalidRequest(f"training intent refused: {exc}") from exc

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


def check_uploaded_archive(archive: bytes) -> None:
    """Refuses an archive no prover could unpack, before a registration job is queued for it."""
    try:
        check_archive(archive)
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
