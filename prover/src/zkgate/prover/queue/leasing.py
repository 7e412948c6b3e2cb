"""Handing jobs out: which job a worker gets next, and the lease it holds the job by.

Jobs are handed out in the order they were (re)queued, those of preferred models first: a job
sent back after a transient failure, or reset through its idempotency key, waits behind the jobs
already queued. A running job whose lease expired counts as waiting (its worker is presumed
lost). Rows another claimer holds are passed over, so concurrent workers take different jobs.
A worker with a memory budget passes over jobs that need more (provers.py); a job whose need is
unknown goes to any worker.
"""

from __future__ import annotations

from collections.abc import Collection

from zkgate.prover.queue.jobs import JobKind
from zkgate.prover.queue.sql_session import Row, Session


def claim_next(
    session: Session,
    worker_id: str,
    *,
    lease_seconds: float,
    now: float,
    kinds: Collection[JobKind] | None,
    prefer_models: Collection[str],
    memory_budget: int | None,
) -> Row | None:
    """The job that has waited longest among those worker_id can hold, leased to it; a lost
    job with no attempts left is failed instead of being handed out again."""
    kind_filter, kind_args = _kind_filter(kinds)
    memory_filter, memory_args = _memory_filter(memory_budget)
    preference, preference_args = _model_preference(prefer_models)
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
            {kind_filter} {memory_filter}
            ORDER BY {preference} queued_at, id LIMIT 1
            {skip_locked}""",
        (now, now, *kind_args, *memory_args, *preference_args),
    )
    if candidate is None:
        return None
    return _lease(session, candidate["id"], worker_id, lease_seconds=lease_seconds, now=now)


def claim_batch_mates(
    session: Session,
    worker_id: str,
    *,
    batch_key: str,
    limit: int,
    lease_seconds: float,
    now: float,
) -> list[Row]:
    """Up to limit queued jobs of batch_key, longest waiting first, leased to worker_id. Only
    queued jobs: a job whose lease expired goes through claim_next, which fails it once its
    attempts are used up."""
    candidates = session.all(
        f"""SELECT id FROM jobs
            WHERE batch_key = ? AND state = 'queued' AND available_at <= ?
            ORDER BY queued_at, id LIMIT ?
            {session.backend.skip_locked}""",
        (batch_key, now, limit),
    )
    return [
        _lease(session, candidate["id"], worker_id, lease_seconds=lease_seconds, now=now)
        for candidate in candidates
    ]


def _lease(
    session: Session, job_id: str, worker_id: str, *, lease_seconds: float, now: float
) -> Row:
    row = session.one(
        """UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?,
            attempts = attempts + 1, updated_at = ?, started_at = ?, stage = '',
            stage_started_at = ?
           WHERE id = ? RETURNING *""",
        (worker_id, now + lease_seconds, now, now, now, job_id),
    )
    assert row is not None
    return row


def _kind_filter(kinds: Collection[JobKind] | None) -> tuple[str, tuple[str, ...]]:
    if kinds is None:
        return "", ()
    names = tuple(str(kind) for kind in kinds)
    if not names:
        return "AND FALSE", ()
    return f"AND kind IN ({', '.join('?' * len(names))})", names


def _memory_filter(memory_budget: int | None) -> tuple[str, tuple[int, ...]]:
    if memory_budget is None:
        return "", ()
    return "AND (memory_bytes IS NULL OR memory_bytes <= ?)", (memory_budget,)


def _model_preference(models: Collection[str]) -> tuple[str, tuple[str, ...]]:
    """An ORDER BY prefix that puts jobs of the given models first."""
    names = tuple(models)
    if not names:
        return "", ()
    return f"CASE WHEN model_name IN ({', '.join('?' * len(names))}) THEN 0 ELSE 1 END,", names
