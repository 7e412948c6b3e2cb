"""Durable jobs: the work a gateway hands to prover workers, with leases so a lost worker's job
is picked up again, and idempotency keys so a repeated request does not repeat the work."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from zkgate.prover.queue.database import Database
from zkgate.prover.queue.sql_session import Row, Session


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
# An idempotency key whose job ended in one of these may be used again to run the work anew.
RETRYABLE_STATES = frozenset({JobState.FAILED, JobState.CANCELLED})


class JobKind(StrEnum):
    REGISTER = "register"
    PROVE = "prove"


@dataclass(frozen=True)
class Job:
    id: str
    # Whose job it is; idempotency keys are per tenant, so two tenants never share a job.
    tenant: str
    kind: JobKind
    state: JobState
    model_name: str
    payload: dict[str, Any]
    idempotency_key: str | None
    attempts: int
    max_attempts: int
    error: str | None
    result: dict[str, Any] | None
    lease_owner: str | None
    lease_expires_at: float | None
    # A queued job is not handed out before this time (the backoff after a transient failure).
    available_at: float
    created_at: float
    updated_at: float
    # Jobs with the same key may be proven together in one batch (see claim_more).
    batch_key: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


class JobNotFound(LookupError):
    pass


class LeaseLost(RuntimeError):
    """The caller no longer holds the job: its lease expired and another worker took it, or the
    job was cancelled. Whatever the caller computed must be dropped."""


class QueueFull(RuntimeError):
    pass


class TenantQuotaExceeded(QueueFull):
    """The tenant has as many unfinished jobs as its quota allows."""


class JobQueue(Protocol):
    """What the gateway and workers need from a job store."""

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
    ) -> tuple[Job, bool]: ...

    def get(self, job_id: str) -> Job: ...

    def claim(
        self,
        worker_id: str,
        *,
        lease_seconds: float,
        kinds: Collection[JobKind] | None = None,
        prefer_models: Collection[str] = (),
    ) -> Job | None: ...

    def claim_more(
        self, worker_id: str, *, batch_key: str, limit: int, lease_seconds: float
    ) -> list[Job]: ...

    def heartbeat(self, job_id: str, worker_id: str, *, lease_seconds: float) -> None: ...

    def expire_leases(self, worker_id: str) -> int: ...

    def succeed(self, job_id: str, worker_id: str, result: dict[str, Any]) -> Job: ...

    def fail(self, job_id: str, worker_id: str, error: str, *, transient: bool) -> Job: ...

    def cancel(self, job_id: str) -> Job: ...

    def counts(self) -> dict[JobState, int]: ...


DEFAULT_RETRY_BACKOFF_SECONDS = 1.0
DEFAULT_MAX_RETRY_BACKOFF_SECONDS = 60.0


class SqlJobQueue:
    """JobQueue on the shared database (SQLite or PostgreSQL); safe across threads, processes
    and machines.

    Jobs are handed out in the order they were (re)queued, those of preferred models first: a
    job sent back after a transient failure, or reset through its idempotency key, waits behind
    the jobs already queued. A transient failure also holds the job back for a backoff that
    doubles with each attempt, so a failing dependency is not hammered.
    """

    def __init__(
        self,
        db: Database,
        *,
        max_queued: int | None = None,
        retry_backoff_seconds: float = DEFAULT_RETRY_BACKOFF_SECONDS,
        max_retry_backoff_seconds: float = DEFAULT_MAX_RETRY_BACKOFF_SECONDS,
    ) -> None:
        self._db = db
        self._max_queued = max_queued
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
    ) -> tuple[Job, bool]:
        """Returns (job, created). A key the tenant used before returns its job unchanged,
        unless that job failed or was cancelled: then the job is reset to run again with this
        request's payload and keeps its id. `tenant_quota`: how many unfinished jobs the tenant
        may have (0: no limit); checked under the same lock as the insert, so it is exact."""
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        payload_json = _to_json(payload)
        now = time.time()

        def work(session: Session) -> tuple[Row, bool]:
            # One enqueue at a time, so the queue limit is exact and a key makes one job.
            session.backend.serialize(session, "zkgate-enqueue")
            existing = None
            if idempotency_key is not None:
                existing = session.one(
                    "SELECT * FROM jobs WHERE tenant = ? AND idempotency_key = ?",
                    (tenant, idempotency_key),
                )
                if existing is not None and existing["state"] not in RETRYABLE_STATES:
                    return existing, False
            self._check_capacity(session)
            if tenant_quota:
                _check_tenant_quota(session, tenant, tenant_quota)
            if existing is not None:
                row = session.one(
                    """UPDATE jobs SET kind = ?, state = 'queued', model_name = ?, payload = ?,
                        attempts = 0, max_attempts = ?, error = NULL, result = NULL,
                        lease_owner = NULL, lease_expires_at = NULL, queued_at = ?,
                        available_at = ?, updated_at = ?, batch_key = ?
                       WHERE id = ? RETURNING *""",
                    (
                        str(kind),
                        model_name,
                        payload_json,
                        max_attempts,
                        now,
                        now,
                        now,
                        batch_key,
                        existing["id"],
                    ),
                )
            else:
                row = session.one(
                    """INSERT INTO jobs (id, tenant, kind, state, model_name, payload,
                        idempotency_key, max_attempts, queued_at, available_at, created_at,
                        updated_at, batch_key)
                       VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *""",
                    (
                        uuid.uuid4().hex,
                        tenant,
                        str(kind),
                        model_name,
                        payload_json,
                        idempotency_key,
                        max_attempts,
                        now,
                        now,
                        now,
                        now,
                        batch_key,
                    ),
                )
            assert row is not None
            return row, True

        row, created = self._db.transaction(work)
        return _job_from_row(row), created

    def get(self, job_id: str) -> Job:
        row = self._db.read(lambda s: s.one("SELECT * FROM jobs WHERE id = ?", (job_id,)))
        if row is None:
            raise JobNotFound(f"no job {job_id!r}")
        return _job_from_row(row)

    def claim(
        self,
        worker_id: str,
        *,
        lease_seconds: float,
        kinds: Collection[JobKind] | None = None,
        prefer_models: Collection[str] = (),
    ) -> Job | None:
        """Leases the job that has waited longest, among those of prefer_models first (models
        whose keys the worker holds already), counting a running job whose lease expired (its
        worker is presumed lost) as waiting. A lost job with no attempts left is failed instead
        of being handed out again."""
        now = time.time()
        kind_filter, kind_args = _kind_filter(kinds)
        preference, preference_args = _model_preference(prefer_models)

        def work(session: Session) -> Row | None:
            skip_locked = session.backend.skip_locked
            session.run(
                f"""UPDATE jobs SET state = 'failed', lease_expires_at = NULL, updated_at = ?,
                    error = 'lease expired on attempt ' || attempts || ' of ' || max_attempts
                        || ' (last worker: ' || lease_owner || '); no attempts left'
                   WHERE id IN (
                       SELECT id FROM jobs
                       WHERE state = 'running' AND lease_expires_at < ?
                           AND attempts >= max_attempts
                       {skip_locked})""",
                (now, now),
            )
            candidate = session.one(
                f"""SELECT id FROM jobs
                    WHERE ((state = 'queued' AND available_at <= ?)
                        OR (state = 'running' AND lease_expires_at < ?))
                    {kind_filter}
                    ORDER BY {preference} queued_at, id LIMIT 1
                    {skip_locked}""",
                (now, now, *kind_args, *preference_args),
            )
            if candidate is None:
                return None
            return session.one(
                """UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?,
                    attempts = attempts + 1, updated_at = ?
                   WHERE id = ? RETURNING *""",
                (worker_id, now + lease_seconds, now, candidate["id"]),
            )

        row = self._db.transaction(work)
        return None if row is None else _job_from_row(row)

    def claim_more(
        self, worker_id: str, *, batch_key: str, limit: int, lease_seconds: float
    ) -> list[Job]:
        """Leases up to limit more queued jobs of batch_key, longest waiting first, for a worker
        that holds one already and proves them together. Only queued jobs: a job whose lease
        expired goes through claim, which fails it once its attempts are used up."""
        if limit < 1:
            return []
        now = time.time()

        def work(session: Session) -> list[Row]:
            candidates = session.all(
                f"""SELECT id FROM jobs
                    WHERE batch_key = ? AND state = 'queued' AND available_at <= ?
                    ORDER BY queued_at, id LIMIT ?
                    {session.backend.skip_locked}""",
                (batch_key, now, limit),
            )
            claimed = []
            for candidate in candidates:
                row = session.one(
                    """UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?,
                        attempts = attempts + 1, updated_at = ?
                       WHERE id = ? RETURNING *""",
                    (worker_id, now + lease_seconds, now, candidate["id"]),
                )
                assert row is not None
                claimed.append(row)
            return claimed

        return [_job_from_row(row) for row in self._db.transaction(work)]

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
            (_to_json(result), time.time()),
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
            return _update_owned(
                session,
                job_id,
                worker_id,
                """state = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
                   lease_owner = CASE WHEN attempts < max_attempts THEN NULL
                       ELSE lease_owner END,
                   queued_at = CASE WHEN attempts < max_attempts THEN ? ELSE queued_at END,
                   available_at = CASE WHEN attempts < max_attempts THEN ?
                       ELSE available_at END,
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
        return _job_from_row(row)

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

    def _check_capacity(self, session: Session) -> None:
        if self._max_queued is None:
            return
        row = session.one("SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued'")
        queued = 0 if row is None else int(row["n"])
        if queued >= self._max_queued:
            raise QueueFull(f"{queued} jobs are queued already (limit {self._max_queued})")

    def _update_leased(
        self, job_id: str, worker_id: str, assignments: str, args: tuple[Any, ...]
    ) -> Job:
        return self._db.transaction(
            lambda s: _update_owned(s, job_id, worker_id, assignments, args)
        )


def _update_owned(
    session: Session, job_id: str, worker_id: str, assignments: str, args: tuple[Any, ...]
) -> Job:
    """Applies an update only while worker_id still holds the job's lease."""
    row = session.one(
        f"""UPDATE jobs SET {assignments}
            WHERE id = ? AND state = 'running' AND lease_owner = ? RETURNING *""",
        (*args, job_id, worker_id),
    )
    if row is not None:
        return _job_from_row(row)
    current = session.one("SELECT state, lease_owner FROM jobs WHERE id = ?", (job_id,))
    if current is None:
        raise JobNotFound(f"no job {job_id!r}")
    raise LeaseLost(
        f"job {job_id} is no longer leased to {worker_id}: it is {current['state']}"
        f" and held by {current['lease_owner']}"
    )


def _check_tenant_quota(session: Session, tenant: str, quota: int) -> None:
    row = session.one(
        "SELECT COUNT(*) AS n FROM jobs WHERE tenant = ? AND state IN ('queued', 'running')",
        (tenant,),
    )
    unfinished = 0 if row is None else int(row["n"])
    if unfinished >= quota:
        raise TenantQuotaExceeded(
            f"tenant {tenant!r} has {unfinished} unfinished jobs, its quota; wait for some to "
            "finish"
        )


def _kind_filter(kinds: Collection[JobKind] | None) -> tuple[str, tuple[str, ...]]:
    if kinds is None:
        return "", ()
    names = tuple(str(kind) for kind in kinds)
    if not names:
        return "AND FALSE", ()
    return f"AND kind IN ({', '.join('?' * len(names))})", names


def _model_preference(models: Collection[str]) -> tuple[str, tuple[str, ...]]:
    """An ORDER BY prefix that puts jobs of the given models first."""
    names = tuple(models)
    if not names:
        return "", ()
    return f"CASE WHEN model_name IN ({', '.join('?' * len(names))}) THEN 0 ELSE 1 END,", names


def _to_json(value: dict[str, Any]) -> str:
    # allow_nan=False: NaN is not JSON, and other tools reading the column would reject it.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _job_from_row(row: Row) -> Job:
    return Job(
        id=row["id"],
        tenant=row["tenant"],
        kind=JobKind(row["kind"]),
        state=JobState(row["state"]),
        model_name=row["model_name"],
        payload=json.loads(row["payload"]),
        idempotency_key=row["idempotency_key"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        error=row["error"],
        result=None if row["result"] is None else json.loads(row["result"]),
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        available_at=row["available_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        batch_key=row["batch_key"],
    )
