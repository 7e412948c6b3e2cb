"""Job progress and listings in the queue, on both backends (a real SQLite file, a real
PostgreSQL server): stages reported by the holder only, queue positions, a tenant's jobs by
filter and page, newest first."""

from __future__ import annotations

import time

import pytest

from zkgate.core.job_stages import JobStage
from zkgate.prover.queue.database import Database
from zkgate.prover.queue.jobs import JobCursor, JobFilter, JobKind, JobState, LeaseLost
from zkgate.prover.queue.sql_job_queue import SqlJobQueue


@pytest.fixture
def queue(database: Database) -> SqlJobQueue:
    return SqlJobQueue(database)


def test_queued_jobs_report_their_place_per_kind(queue: SqlJobQueue) -> None:
    first, _ = queue.enqueue(JobKind.PROVE, "m", {})
    register, _ = queue.enqueue(JobKind.REGISTER, "m", {})
    second, _ = queue.enqueue(JobKind.PROVE, "m", {})
    assert [queue.get(j.id).queue_position for j in (first, register, second)] == [1, 1, 2]
    claimed = queue.claim("w", lease_seconds=30, kinds=[JobKind.PROVE])
    assert claimed is not None and claimed.id == first.id
    assert queue.get(first.id).queue_position is None
    assert queue.get(second.id).queue_position == 1


def test_the_holder_reports_stages_and_a_cancelled_job_refuses_them(queue: SqlJobQueue) -> None:
    job, _ = queue.enqueue(JobKind.REGISTER, "m", {})
    assert (job.stage, job.started_at) == ("", None)
    before = time.time()
    claimed = queue.claim("w", lease_seconds=30)
    assert claimed is not None and claimed.started_at is not None
    assert claimed.started_at >= before
    reported = queue.report_stage(job.id, "w", JobStage.COMPILING)
    assert reported.stage == "compiling"
    assert reported.stage_started_at is not None
    assert reported.stage_started_at >= claimed.started_at
    with pytest.raises(LeaseLost):
        queue.report_stage(job.id, "other-worker", JobStage.KEYING)
    queue.confirm_held(job.id, "w")
    queue.cancel(job.id)
    with pytest.raises(LeaseLost, match="cancelled"):
        queue.confirm_held(job.id, "w")
    with pytest.raises(LeaseLost, match="cancelled"):
        queue.report_stage(job.id, "w", JobStage.KEYING)
    assert queue.get(job.id).stage == "compiling"


def test_a_transient_failure_clears_the_stage(queue: SqlJobQueue) -> None:
    job, _ = queue.enqueue(JobKind.PROVE, "m", {})
    queue.claim("w", lease_seconds=30)
    queue.report_stage(job.id, "w", JobStage.PROVING)
    again = queue.fail(job.id, "w", "lost", transient=True)
    assert (again.state, again.stage) == (JobState.QUEUED, "")


def test_listing_filters_pages_and_keeps_tenants_apart(queue: SqlJobQueue) -> None:
    alice = [queue.enqueue(JobKind.PROVE, f"m{n % 2}", {}, tenant="alice")[0] for n in range(5)]
    queue.enqueue(JobKind.REGISTER, "m0", {}, tenant="alice")
    queue.enqueue(JobKind.PROVE, "m0", {}, tenant="bob")
    queue.cancel(alice[0].id)

    everything = queue.list_jobs(JobFilter("alice"), limit=100, after=None)
    assert len(everything) == 6
    assert [j.created_at for j in everything] == sorted(
        (j.created_at for j in everything), reverse=True
    )
    assert all(j.tenant == "alice" for j in everything)
    assert queue.list_jobs(JobFilter("carol"), limit=100, after=None) == []

    pages: list[str] = []
    cursor = None
    while True:
        page = queue.list_jobs(JobFilter("alice"), limit=4, after=cursor)
        pages += [j.id for j in page]
        if len(page) < 4:
            break
        cursor = JobCursor(page[-1].created_at, page[-1].id)
    assert pages == [j.id for j in everything]

    proofs_of_m0 = queue.list_jobs(
        JobFilter("alice", model_name="m0", kind=JobKind.PROVE), limit=100, after=None
    )
    assert {j.id for j in proofs_of_m0} == {alice[0].id, alice[2].id, alice[4].id}
    cancelled = queue.list_jobs(
        JobFilter("alice", states=frozenset({JobState.CANCELLED})), limit=100, after=None
    )
    assert [j.id for j in cancelled] == [alice[0].id]
    queued = queue.list_jobs(
        JobFilter("alice", states=frozenset({JobState.QUEUED}), kind=JobKind.PROVE),
        limit=100,
        after=None,
    )
    # Newest first; positions count bob's queued proof too, which was queued after these.
    assert [j.queue_position for j in queued] == [4, 3, 2, 1]
