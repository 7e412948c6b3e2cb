"""The gateway's durable record of proof-of-learning: the policies it signed intents for, and the
proofs its provers rejected.

A policy is kept so that registration verifies a proof against what the gateway agreed to, not
against whatever the proof carries. A rejection is kept because each verification draws a fresh
nonce: a spoof that skips part of the training passes with some probability per try, and
without a record its owner could resubmit until one try passes and the card would show only
that one. Rows live in the shared database, so every gateway replica and prover sees them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from zkgate.prover.queue.database import Database
from zkgate.prover.queue.sql_session import Session


@dataclass(frozen=True)
class LearningRejection:
    job_id: str
    model_name: str
    # The served ONNX file's artifact digest: a resubmission under another name still counts.
    onnx_digest: str
    owner_public_key: str
    manifest_digest: str
    report_digest: str
    # The verifier's first reason, for a person reading the record.
    reason: str
    rejected_at: float


class LearningLedger:
    def __init__(self, db: Database) -> None:
        self._db = db

    def keep_policy(self, policy_digest: str, policy_json: str) -> None:
        """Idempotent: an intent asked for twice under one policy keeps it once. The digest is
        the caller's to have checked against the JSON."""

        def work(session: Session) -> None:
            session.run(
                "INSERT INTO training_policies (policy_digest, policy_json, kept_at) "
                "VALUES (?, ?, ?) ON CONFLICT (policy_digest) DO NOTHING",
                (policy_digest, policy_json, time.time()),
            )

        self._db.transaction(work)

    def kept_policy(self, policy_digest: str) -> str | None:
        row = self._db.read(
            lambda s: s.one(
                "SELECT policy_json FROM training_policies WHERE policy_digest = ?",
                (policy_digest,),
            )
        )
        return None if row is None else str(row["policy_json"])

    def record_rejection(self, rejection: LearningRejection) -> None:
        """One row per registration job: a job retried after a transient failure replaces its
        own row instead of counting twice."""

        def work(session: Session) -> None:
            session.run("DELETE FROM learning_rejections WHERE job_id = ?", (rejection.job_id,))
            session.run(
                "INSERT INTO learning_rejections (job_id, model_name, onnx_digest, "
                "owner_public_key, manifest_digest, report_digest, reason, rejected_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rejection.job_id,
                    rejection.model_name,
                    rejection.onnx_digest,
                    rejection.owner_public_key,
                    rejection.manifest_digest,
                    rejection.report_digest,
                    rejection.reason,
                    rejection.rejected_at,
                ),
            )

        self._db.transaction(work)

    def rejection_count(
        self, onnx_digest: str, owner_public_key: str, *, excluding_job: str = ""
    ) -> int:
        """This owner's rejected proofs for this ONNX file, under any model name."""
        row = self._db.read(
            lambda s: s.one(
                "SELECT COUNT(*) AS rejected FROM learning_rejections WHERE onnx_digest = ? "
                "AND owner_public_key = ? AND job_id <> ?",
                (onnx_digest, owner_public_key, excluding_job),
            )
        )
        return 0 if row is None else int(row["rejected"])
