"""Putting a job in the queue: idempotency keys, the queue's limit, tenants' quotas and whether
a live prover can hold the job, checked in the same transaction as the insert, so that they are
exact under any concurrency."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from zkgate.prover.queue.jobs import RETRYABLE_STATES, JobKind, QueueFull, TenantQuotaExceeded
from zkgate.prover.queue.provers import check_can_hold
from zkgate.prover.queue.sql_session import Row, Session


@dataclass(frozen=True)
class NewJob:
    """An enqueue request, its payload already JSON (so a bad one fails before any SQL)."""

    kind: JobKind
    model_name: str
    payload_json: str
    tenant: str
    idempotency_key: str | None
    max_attempts: int
    # How many unfinished jobs the tenant may have; 0: no limit.
    tenant_quota: int
    batch_key: str | None
    # The peak memory the job needs; None: unknown (any prover may take it).
    memory_bytes: int | None


def enqueue_job(
    session: Session,
    new: NewJob,
    *,
    max_queued: int | None,
    standby_budget: int | None,
    now: float,
) -> tuple[Row, bool]:
    """(row, created). A key the tenant used before gives its job unchanged, unless that job
    failed or was cancelled: then the job is reset to run again with new's payload and keeps
    its id. standby_budget: see provers.check_can_hold."""
    # One enqueue at a time, so the queue limit is exact and a key makes one job.
    session.backend.serialize(session, "zkgate-enqueue")
    existing = None
    if new.idempotency_key is not None:
        existing = session.one(
            "SELECT * FROM jobs WHERE tenant = ? AND idempotency_key = ?",
            (new.tenant, new.idempotency_key),
        )
        if existing is not None and existing["state"] not in RETRYABLE_STATES:
            return existing, False
    _check_capacity(session, max_queued)
    if new.tenant_quota:
        _check_tenant_quota(session, new.tenant, new.tenant_quota)
    if new.memory_bytes is not None:
        check_can_hold(
            session,
            new.kind,
            new.memory_bytes,
            what=f"a {new.kind} job of model {new.model_name!r}",
            now=now,
            standby_budget=standby_budget,
        )
    if existing is not None:
        return _reset(session, existing["id"], new, now), True
    return _insert(session, new, now), True


def _reset(session: Session, job_id: str, new: NewJob, now: float) -> Row:
    row = session.one(
        """UPDATE jobs SET kind = ?, state = 'queued', model_name = ?, payload = ?,
            attempts = 0, max_attempts = ?, error = NULL, result = NULL,
            lease_owner = NULL, lease_expires_at = NULL, queued_at = ?,
            available_at = ?, updated_at = ?, batch_key = ?, memory_bytes = ?, stage = '',
            stage_started_at = NULL, started_at = NULL
           WHERE id = ? RETURNING *""",
        (
            str(new.kind),
            new.model_name,
            new.payload_json,
            new.max_attempts,
            now,
            now,
            now,
            new.batch_key,
            new.memory_bytes,
            job_id,
        ),
    )
    assert row is not None
    return row


def _insert(session: Session, new: NewJob, now: float) -> Row:
    row = session.one(
        """INSERT INTO jobs (id, tenant, kind, state, model_name, payload,
            idempotency_key, max_attempts, queued_at, available_at, created_at,
            updated_at, batch_key, memory_bytes)
           VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *""",
        (
            uuid.uuid4().hex,
            new.tenant,
            str(new.kind),
            new.model_name,
            new.payload_json,
            new.idempotency_key,
            new.max_attempts,
            now,
            now,
            now,
            now,
            new.batch_key,
            new.memory_bytes,
        ),
    )
    assert row is not None
    return row


def _check_capacity(session: Session, max_queued: int | None) -> None:
    if max_queued is None:
        return
    row = session.one("SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued'")
    queued = 0 if row is None else int(row["n"])
    if queued >= max_queued:
        raise QueueFull(f"{queued} jobs are queued already (limit {max_queued})")


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
