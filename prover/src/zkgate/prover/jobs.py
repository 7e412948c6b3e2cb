"""Durable jobs: the work a gateway hands to prover workers, with leases so a lost worker's job
is picked up again, and idempotency keys so a repeated request does not repeat the work."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from zkgate.prover.database import Database


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
    created_at: float
    updated_at: float

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


class JobQueue(Protocol):
    """What the gateway and workers need from a job store; SQLite now, PostgreSQL later."""

    def enqueue(
        self,
        kind: JobKind,
        model_name: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        max_attempts: int = 3,
    ) -> tuple[Job, bool]: ...

    def get(self, job_id: str) -> Job: ...

    def claim(
        self, worker_id: str, *, lease_seconds: float, kinds: Collection[JobKind] | None = None
    ) -> Job | None: ...

    def heartbeat(self, job_id: str, worker_id: str, *, lease_seconds: float) -> None: ...

    def expire_leases(self, worker_id: str) -> int: ...

    def succeed(self, job_id: str, worker_id: str, result: dict[str, Any]) -> Job: ...

    def fail(self, job_id: str, worker_id: str, error: str, *, transient: bool) -> Job: ...

    def cancel(self, job_id: str) -> Job: ...

    def counts(self) -> dict[JobState, int]: ...


class SqliteJobQueue:
    """JobQueue on the shared SQLite file; safe across threads and processes.

    Jobs are handed out in the order they were (re)queued: a job sent back after a transient
    failure, or reset through its idempotency key, waits behind the jobs already queued.
    """

    def __init__(self, db: Database, *, max_queued: int | None = None) -> None:
        self._db = db
        self._max_queued = max_queued

    def enqueue(
        self,
        kind: JobKind,
        model_name: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        max_attempts: int = 3,
    ) -> tuple[Job, bool]:
        """Returns (job, created). A key seen before returns its job unchanged, unless that job
        failed or was cancelled: then the job is reset to run again with this request's payload
        and keeps its id."""
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        payload_json = _to_json(payload)
        now = time.time()
        with self._db.write() as conn:
            existing = None
            if idempotency_key is not None:
                existing = conn.execute(
                    "SELECT * FROM jobs WHERE idempotency_key = ?", (idempotency_key,)
                ).fetchone()
                if existing is not None and existing["state"] not in RETRYABLE_STATES:
                    return _job_from_row(existing), False
            self._check_capacity(conn)
            if existing is not None:
                row = conn.execute(
                    """UPDATE jobs SET kind = ?, state = 'queued', model_name = ?, payload = ?,
                        attempts = 0, max_attempts = ?, error = NULL, result = NULL,
                        lease_owner = NULL, lease_expires_at = NULL, queued_at = ?, updated_at = ?
                       WHERE id = ? RETURNING *""",
                    (str(kind), model_name, payload_json, max_attempts, now, now, existing["id"]),
                ).fetchone()
            else:
                row = conn.execute(
                    """INSERT INTO jobs (id, kind, state, model_name, payload, idempotency_key,
                        max_attempts, queued_at, created_at, updated_at)
                       VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?) RETURNING *""",
                    (
                        uuid.uuid4().hex,
                        str(kind),
                        model_name,
                        payload_json,
                        idempotency_key,
                        max_attempts,
                        now,
                        now,
                        now,
                    ),
                ).fetchone()
        return _job_from_row(row), True

    def get(self, job_id: str) -> Job:
        row = self._db.connection().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id!r}")
        return _job_from_row(row)

    def claim(
        self, worker_id: str, *, lease_seconds: float, kinds: Collection[JobKind] | None = None
    ) -> Job | None:
        """Leases the job that has waited longest, counting a running job whose lease expired
        (its worker is presumed lost) as waiting. A lost job with no attempts left is failed
        instead of being handed out again."""
        now = time.time()
        kind_filter, kind_args = _kind_filter(kinds)
        with self._db.write() as conn:
            conn.execute(
                """UPDATE jobs SET state = 'failed', lease_expires_at = NULL, updated_at = ?,
                    error = 'lease expired on attempt ' || attempts || ' of ' || max_attempts
                        || ' (last worker: ' || lease_owner || '); no attempts left'
                   WHERE state = 'running' AND lease_expires_at < ? AND attempts >= max_attempts""",
                (now, now),
            )
            candidate = conn.execute(
                f"""SELECT id FROM jobs
                    WHERE (state = 'queued' OR (state = 'running' AND lease_expires_at < ?))
                    {kind_filter}
                    ORDER BY queued_at, rowid LIMIT 1""",
                (now, *kind_args),
            ).fetchone()
            if candidate is None:
                return None
            row = conn.execute(
                """UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?,
                    attempts = attempts + 1, updated_at = ?
                   WHERE id = ? RETURNING *""",
                (worker_id, now + lease_seconds, now, candidate["id"]),
            ).fetchone()
        return _job_from_row(row)

    def expire_leases(self, worker_id: str) -> int:
        """Ends the leases held under worker_id, returning how many.

        A worker id names one live worker at a time (the embedded pool numbers its processes,
        Kubernetes pod names are unique), so a worker starting under an id knows that the running
        jobs leased to that id were orphaned by its previous incarnation. Expiring them now lets
        them be claimed again at once, with the usual attempt accounting, instead of after the
        (long) lease.
        """
        with self._db.write() as conn:
            cursor = conn.execute(
                """UPDATE jobs SET lease_expires_at = 0
                   WHERE state = 'running' AND lease_owner = ?""",
                (worker_id,),
            )
            return cursor.rowcount

    def heartbeat(self, job_id: str, worker_id: str, *, lease_seconds: float) -> None:
        now = time.time()
        with self._db.write() as conn:
            self._update_owned(
                conn,
                job_id,
                worker_id,
                "lease_expires_at = ?, updated_at = ?",
                (now + lease_seconds, now),
            )

    def succeed(self, job_id: str, worker_id: str, result: dict[str, Any]) -> Job:
        result_json = _to_json(result)
        now = time.time()
        with self._db.write() as conn:
            return self._update_owned(
                conn,
                job_id,
                worker_id,
                "state = 'succeeded', result = ?, error = NULL, lease_expires_at = NULL, "
                "updated_at = ?",
                (result_json, now),
            )

    def fail(self, job_id: str, worker_id: str, error: str, *, transient: bool) -> Job:
        """A transient failure sends the job back to the queue while attempts remain; any other
        failure is final."""
        now = time.time()
        with self._db.write() as conn:
            if transient:
                return self._update_owned(
                    conn,
                    job_id,
                    worker_id,
                    """state = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
                       lease_owner = CASE WHEN attempts < max_attempts THEN NULL
                           ELSE lease_owner END,
                       queued_at = CASE WHEN attempts < max_attempts THEN ? ELSE queued_at END,
                       error = ?, lease_expires_at = NULL, updated_at = ?""",
                    (now, error, now),
                )
            return self._update_owned(
                conn,
                job_id,
                worker_id,
                "state = 'failed', error = ?, lease_expires_at = NULL, updated_at = ?",
                (error, now),
            )

    def cancel(self, job_id: str) -> Job:
        """Cancels a queued or running job; a running job's worker learns of it as LeaseLost at
        its next heartbeat or completion. A job that has already ended is returned unchanged."""
        with self._db.write() as conn:
            row = conn.execute(
                """UPDATE jobs SET state = 'cancelled', lease_expires_at = NULL, updated_at = ?
                   WHERE id = ? AND state IN ('queued', 'running') RETURNING *""",
                (time.time(), job_id),
            ).fetchone()
            if row is None:
                row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id!r}")
        return _job_from_row(row)

    def counts(self) -> dict[JobState, int]:
        rows = self._db.connection().execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        found = {JobState(state): count for state, count in rows}
        return {state: found.get(state, 0) for state in JobState}

    def _check_capacity(self, conn: sqlite3.Connection) -> None:
        if self._max_queued is None:
            return
        queued: int = conn.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").fetchone()[0]
        if queued >= self._max_queued:
            raise QueueFull(f"{queued} jobs are queued already (limit {self._max_queued})")

    @staticmethod
    def _update_owned(
        conn: sqlite3.Connection,
        job_id: str,
        worker_id: str,
        assignments: str,
        args: tuple[Any, ...],
    ) -> Job:
        """Applies an update only while worker_id still holds the job's lease."""
        row = conn.execute(
            f"""UPDATE jobs SET {assignments}
                WHERE id = ? AND state = 'running' AND lease_owner = ? RETURNING *""",
            (*args, job_id, worker_id),
        ).fetchone()
        if row is not None:
            return _job_from_row(row)
        current = conn.execute(
            "SELECT state, lease_owner FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if current is None:
            raise JobNotFound(f"no job {job_id!r}")
        raise LeaseLost(
            f"job {job_id} is no longer leased to {worker_id}: it is {current['state']}"
            f" and held by {current['lease_owner']}"
        )


def _kind_filter(kinds: Collection[JobKind] | None) -> tuple[str, tuple[str, ...]]:
    if kinds is None:
        return "", ()
    names = tuple(str(kind) for kind in kinds)
    if not names:
        return "AND 0", ()
    return f"AND kind IN ({', '.join('?' * len(names))})", names


def _to_json(value: dict[str, Any]) -> str:
    # allow_nan=False: NaN is not JSON, and the PostgreSQL backend's jsonb would reject it.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _job_from_row(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
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
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
