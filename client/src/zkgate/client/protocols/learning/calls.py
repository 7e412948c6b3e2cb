"""The Client's calls for proof-of-learning: the gateway's signed training intents and
commitment timestamps, checked to be what was asked for, and the prover's learning reports,
checked against the digest the gateway names for them."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.client.connection import GatewayConnection
from zkgate.core.attestations import CommitmentTimestamp, TrainingIntent, sign_timestamp_request
from zkgate.core.canonical import sha256_hex
from zkgate.core.learning.policy import TrainingPolicy
from zkgate.core.signing import raw_public_key
from zkgate.wire import zkgate_pb2 as pb


class LearningReportMismatch(ValueError):
    """The report the gateway sent does not hash to the digest it named for it."""


class LearningCalls(GatewayConnection):
    def issue_training_intent(
        self, owner_public_key: str, policy: TrainingPolicy
    ) -> TrainingIntent:
        """A fresh intent from the gateway; the run's seed derives from it. The gateway keeps
        the policy itself, so a later registration is verified against what it agreed to.
        Raises AttestationError unless the gateway's identity key signed it for this owner and
        policy."""
        policy_digest = policy.digest()
        response: pb.SignedStatement = self._learning.IssueTrainingIntent(
            pb.IssueTrainingIntentRequest(
                owner_public_key=owner_public_key,
                policy_digest=policy_digest,
                policy_json=policy.to_json(),
            ),
            timeout=self._timeout,
        )
        intent = TrainingIntent.from_json(response.statement_json)
        self._check_statement(
            intent, owner_public_key=owner_public_key, policy_digest=policy_digest
        )
        return intent

    def timestamp_commitment(
        self, owner_key: Ed25519PrivateKey, commitment: str
    ) -> CommitmentTimestamp:
        """The gateway's signed word that it saw `commitment` now. Raises AttestationError
        unless the gateway's identity key signed it for this owner and commitment."""
        owner_public_key = raw_public_key(owner_key).hex()
        response: pb.SignedStatement = self._learning.TimestampCommitment(
            pb.TimestampCommitmentRequest(
                owner_public_key=owner_public_key,
                commitment=commitment,
                request_signature=sign_timestamp_request(owner_key, commitment),
            ),
            timeout=self._timeout,
        )
        timestamp = CommitmentTimestamp.from_json(response.statement_json)
        self._check_statement(timestamp, owner_public_key=owner_public_key, commitment=commitment)
        return timestamp

    def learning_report(self, name: str) -> str:
        """The prover's proof-of-learning report (JSON) for a model; the card holds its digest."""
        response: pb.LearningReport = self._learning.GetLearningReport(
            pb.GetLearningReportRequest(name=name), timeout=self._timeout
        )
        if sha256_hex(response.report_json.encode("utf-8")) != response.report_digest:
            raise LearningReportMismatch(
                f"the learning report of {name!r} does not hash to {response.report_digest}"
            )
        return response.report_json
