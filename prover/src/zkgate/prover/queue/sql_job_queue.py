"""The job queue on the shared database (SQLite or PostgreSQL): each operation one transaction,
its SQL by stage in enqueueing.py (putting jobs in), leasing.py (handing them out) and here
(what a worker reports, and what a gateway reads or cancels)."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from zkgate.prover.queue.database import Database
from zkgate.prover.queue.enqueueing import NewJob, enqueue_job
from zkgate.prover.queue.job_listing import list_jobs, read_job
from zkgate.prover.queue.job_rows import job_from_row, json_column, update_owned
from zkgate.prover.queue.jobs import (
    Job,
    JobCursor,
    JobFilter,
    JobKind,
    JobNotFound,
    JobState,
    LeaseLost,
)
from zkgate.prover.queue.leasing import claim_batch_mates, claim_next
from zkgate.prover.queue.sql_session import Row, Session

DEFAULT_RETRY_BACKOFF_SECONDS = 1.0
DEFAULT_MAX_RETRY_BACKOFF_SECONDS = 60.0


class SqlJobQueue:
    """JobQueue on the shared database; safe across threads, processes and machines.

    A transient failure holds the job back for a backoff that doubles with each attempt, so a
    failing dependency is not hammered. standby_memory_budget: the largest memory budget of
    provers scaled to zero, which advertise nothing while idle (provers.py).
    """

    def __init__(
        self,
        db: Database,
        *,
        max_queued: int | None = None,
        retry_backoff_seconds: float = DEFAULT_RETRY_BACKOFF_SECONDS,
        max_retry_backoff_seconds: float = DEFAULT_MAX_RETRY_BACKOFF_SECONDS,
        standby_memory_budget: int | None = None,
    ) -> None:
        self._db = db
        self._max_queued = max_queued
        self._standby_memory_budget = standby_memory_budget
        self._retry_backoff_seconds = retry_backoff_seconds
        self._max_retry_backoff_seconds = max_retry_backoff_seconds

    def enqueue(
        self,
        kind: JobKind,
        model_name: str,
        payload: dict[str, Any],
        *,
        tenant: str = "",
        idempotency_key: str | None = None,
        max_attempts: int = 3,
        tenant_quota: int = 0,
        batch_key: str | None = None,
        memory_bytes: int | None = None,
    ) -> tuple[Job, bool]:
        """Returns (job, created). A key the tenant used before returns its job unchanged,
        unless that job failed or was cancelled: then the job is reset to run again with this
        request's payload and keeps its id. `tenant_quota`: how many unfinished jobs the tenant
        may have (0: no limit); checked under the same lock as the insert, so it is exact.
        `memory_bytes`: the peak memory the job needs (None: unknown); a job that no live
        prover can hold raises NoProverCanHold (provers.py)."""
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        new = NewJob(
            kind=kind,
            model_name=model_name,
            payload_json=json_column(payload),
            tenant=tenant,
            idempotency_key=idempotency_key,
            max_attempts=max_attempts,
            tenant_quota=tenant_quota,
            batch_key=batch_key,
            memory_bytes=memory_bytes,
        )
        now = time.time()
        row, created = self._db.transaction(
            lambda s: enqueue_job(
                s,
                new,
                max_queued=self._max_queued,
                standby_budget=self._standby_memory_budget,
                now=now,
            )
        )
        return job_from_row(row), created

    def get(self, job_id: str) -> Job:
        """The job, with its queue position if it is queued."""
        job = self._db.read(lambda s: read_job(s, job_id))
        if job is None:
            raise JobNotFound(f"no job {job_id!r}")
        return job

    def list_jobs(self, which: JobFilter, *, limit: int, after: JobCursor | None) -> list[Job]:
        """Up to limit of a tenant's jobs matching which, newest first, after the cursor."""
        return self._db.read(lambda s: list_jobs(s, which, limit=limit, after=after))

    def confirm_held(self, job_id: str, worker_id: str) -> None:
        """Raises LeaseLost unless worker_id still holds the running job: a last look before
        an effect outside the queue (a registration marking its model version ready)."""
        row = self._db.read(
            lambda s: s.one("SELECT state, lease_owner FROM jobs WHERE id = ?", (job_id,))
        )
        if row is None:
            raise JobNotFound(f"no job {job_id!r}")
        if row["state"] != JobState.RUNNING or row["lease_owner"] != worker_id:
            raise LeaseLost(
                f"job {job_id} is no longer leased to {worker_id}: it is {row['state']}"
            )

    def report_stage(self, job_id: str, worker_id: str, stage: str) -> Job:
        """Records the stage the job's worker has reached; LeaseLost if the worker no longer
        holds the job (it was cancelled, or its lease taken), so the work can stop there."""
        now = time.time()
        return self._update_leased(
            job_id, worker_id, "stage = ?, stage_started_at = ?, updated_at = ?", (stage, now, now)
        )

    def claim(
        self,
        worker_id: str,
        *,
        lease_seconds: float,
        kinds: Collection[JobKind] | None = None,
        prefer_models: Collection[str] = (),
        memory_budget: int | None = None,
    ) -> Job | None:
        """Leases the job that has waited longest, among those of prefer_models first (models
        whose keys the worker holds already), passing over jobs that need more memory than
        memory_budget (None: takes any); see leasing.py."""
        now = time.time()
        row = self._db.transaction(
            lambda s: claim_next(
                s,
                worker_id,
                lease_seconds=lease_seconds,
                now=now,
                kinds=kinds,
                prefer_models=prefer_models,
                memory_budget=memory_budget,
            )
        )
        return None if row is None else job_from_row(row)

    def claim_more(
        self, worker_id: str, *, batch_key: str, limit: int, lease_seconds: float
    ) -> list[Job]:
        """Leases up to limit more queued jobs of batch_key, longest waiting first, for a worker
        that holds one already and proves them together."""
        if limit < 1:
            return []
        now = time.time()
        rows = self._db.transaction(
            lambda s: claim_batch_mates(
                s, worker_id, batch_key=batch_key, limit=limit, lease_seconds=lease_seconds, now=now
            )
        )
        return [job_from_row(row) for row in rows]

    def expire_leases(self, worker_id: str) -> int:
        """Ends the leases held under worker_id, returning how many.

        A worker id names one live worker at a time (the embedded pool numbers its processes,
        Kubernetes pod names are unique), so a worker starting under an id knows that the running
        jobs leased to that id were orphaned by its previous incarnation. Expiring them now lets
        them be claimed again at once, with the usual attempt accounting, instead of after the
        (long) lease.
        """
        return self._db.transaction(
            lambda s: s.run(
                "UPDATE jobs SET lease_expires_at = 0 WHERE state = 'running' AND lease_owner = ?",
                (worker_id,),
            )
        )

    def heartbeat(self, job_id: str, worker_id: str, *, lease_seconds: float) -> None:
        now = time.time()
        self._update_leased(
            job_id, worker_id, "lease_expires_at = ?, updated_at = ?", (now + lease_seconds, now)
        )

    def succeed(self, job_id: str, worker_id: str, result: dict[str, Any]) -> Job:
        return self._update_leased(
            job_id,
            worker_id,
            "state = 'succeeded', result = ?, error = NULL, lease_expires_at = NULL, "
            "updated_at = ?",
            (json_column(result), time.time()),
        )

    def fail(self, job_id: str, worker_id: str, error: str, *, transient: bool) -> Job:
        """A transient failure sends the job back to the queue, after a backoff, while attempts
        remain; any other failure is final at once."""
        now = time.time()
        if not transient:
            return self._update_leased(
                job_id,
                worker_id,
                "state = 'failed', error = ?, lease_expires_at = NULL, updated_at = ?",
                (error, now),
            )

        def work(session: Session) -> Job:
            owned = session.one(
                f"""SELECT attempts FROM jobs
                    WHERE id = ? AND state = 'running' AND lease_owner = ?
                    {session.backend.lock_rows}""",
                (job_id, worker_id),
            )
            retry_at = now + self._retry_delay(owned["attempts"] if owned else 1)
            return update_owned(
                session,
                job_id,
                worker_id,
                """state = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
                   lease_owner = CASE WHEN attempts < max_attempts THEN NULL
                       ELSE lease_owner END,
                   queued_at = CASE WHEN attempts < max_attempts THEN ? ELSE queued_at END,
                   available_at = CASE WHEN attempts < max_attempts THEN ?
                       ELSE available_at END,
                   stage = CASE WHEN attempts < max_attempts THEN '' ELSE stage END,
                   error = ?, lease_expires_at = NULL, updated_at = ?""",
                (now, retry_at, error, now),
            )

        return self._db.transaction(work)

    def cancel(self, job_id: str) -> Job:
        """Cancels a queued or running job; a running job's worker learns of it as LeaseLost at
        its next heartbeat or completion. A job that has already ended is returned unchanged."""

        def work(session: Session) -> Row | None:
            row = session.one(
                """UPDATE jobs SET state = 'cancelled', lease_expires_at = NULL, updated_at = ?
                   WHERE id = ? AND state IN ('queued', 'running') RETURNING *""",
                (time.time(), job_id),
            )
            return row or session.one("SELECT * FROM jobs WHERE id = ?", (job_id,))

        row = self._db.transaction(work)
        if row is None:
            raise JobNotFound(f"no job {job_id!r}")
        return job_from_row(row)

    def counts(self) -> dict[JobState, int]:
        rows = self._db.read(
            lambda s: s.all("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        )
        found = {JobState(row["state"]): int(row["n"]) for row in rows}
        return {state: found.get(state, 0) for state in JobState}

    def _retry_delay(self, attempts: int) -> float:
        """Doubles with each attempt made: base, 2 x base, 4 x base, ... up to the maximum."""
        return min(
            self._retry_backoff_seconds * 2.0 ** max(attempts - 1, 0),
            self._max_retry_backoff_seconds,
        )

    def _update_leased(
        self, job_id: str, worker_id: str, assignments: str, args: tuple[Any, ...]
    ) -> Job:
        return self._db.transaction(lambda s: update_owned(s, job_id, worker_id, assignments, args))
