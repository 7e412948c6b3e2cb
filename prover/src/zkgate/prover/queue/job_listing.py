"""Reading jobs back with their queue position, and a tenant's jobs a page at a time.

A queued job's position is computed when it is read, not stored: storing it would mean
rewriting every queued row at each claim. It counts the queued jobs of the same kind that
provers take before it (the claim order of leasing.py: queued first, then id), so it is exact
for one lane of one kind; a prover's model preference or memory budget may take a later job
first, so it is where the job stands, not a promise.

Listings are newest first and paged by a cursor (the last row's creation time and id), which
stays correct while jobs are added; a tenant's listing reads the jobs_by_tenant index.
"""

from __future__ import annotations

from typing import Any

from zkgate.prover.queue.job_rows import job_from_row
from zkgate.prover.queue.jobs import Job, JobCursor, JobFilter
from zkgate.prover.queue.sql_session import Session

_QUEUE_POSITION = """
    CASE WHEN jobs.state = 'queued' THEN 1 + (
        SELECT COUNT(*) FROM jobs AS ahead
        WHERE ahead.state = 'queued' AND ahead.kind = jobs.kind
            AND (ahead.queued_at < jobs.queued_at
                OR (ahead.queued_at = jobs.queued_at AND ahead.id < jobs.id)))
    END AS queue_position"""

SELECT_JOBS = f"SELECT jobs.*, {_QUEUE_POSITION} FROM jobs"


def read_job(session: Session, job_id: str) -> Job | None:
    row = session.one(f"{SELECT_JOBS} WHERE jobs.id = ?", (job_id,))
    return None if row is None else job_from_row(row)


def list_jobs(
    session: Session, which: JobFilter, *, limit: int, after: JobCursor | None
) -> list[Job]:
    """Up to limit of which.tenant's jobs matching which, newest first, starting after the
    cursor (None: from the newest)."""
    clauses = ["jobs.tenant = ?"]
    args: list[Any] = [which.tenant]
    if which.states is not None:
        states = sorted(str(state) for state in which.states)
        clauses.append(f"jobs.state IN ({', '.join('?' * len(states))})" if states else "FALSE")
        args += states
    if which.model_name is not None:
        clauses.append("jobs.model_name = ?")
        args.append(which.model_name)
    if which.kind is not None:
        clauses.append("jobs.kind = ?")
        args.append(str(which.kind))
    if after is not None:
        clauses.append("(jobs.created_at < ? OR (jobs.created_at = ? AND jobs.id < ?))")
        args += [after.created_at, after.created_at, after.job_id]
    rows = session.all(
        f"""{SELECT_JOBS} WHERE {" AND ".join(clauses)}
            ORDER BY jobs.created_at DESC, jobs.id DESC LIMIT ?""",
        (*args, limit),
    )
    return [job_from_row(row) for row in rows]
