"""Jobs as rows of the jobs table: reading a row back as a Job, the JSON columns, and the one
way a worker changes a job it holds (only while it still holds the lease)."""

from __future__ import annotations

import json
from typing import Any

from zkgate.prover.queue.jobs import Job, JobKind, JobNotFound, JobState, LeaseLost
from zkgate.prover.queue.sql_session import Row, Session


def json_column(value: dict[str, Any]) -> str:
    # allow_nan=False: NaN is not JSON, and other tools reading the column would reject it.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def job_from_row(row: Row) -> Job:
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
        memory_bytes=row["memory_bytes"],
        stage=row["stage"],
        stage_started_at=row["stage_started_at"],
        started_at=row["started_at"],
        queue_position=(None if row.get("queue_position") is None else int(row["queue_position"])),
    )


def update_owned(
    session: Session, job_id: str, worker_id: str, assignments: str, args: tuple[Any, ...]
) -> Job:
    """Applies an update only while worker_id still holds the job's lease."""
    row = session.one(
        f"""UPDATE jobs SET {assignments}
            WHERE id = ? AND state = 'running' AND lease_owner = ? RETURNING *""",
        (*args, job_id, worker_id),
    )
    if row is not None:
        return job_from_row(row)
    current = session.one("SELECT state, lease_owner FROM jobs WHERE id = ?", (job_id,))
    if current is None:
        raise JobNotFound(f"no job {job_id!r}")
    raise LeaseLost(
        f"job {job_id} is no longer leased to {worker_id}: it is {current['state']}"
        f" and held by {current['lease_owner']}"
    )
