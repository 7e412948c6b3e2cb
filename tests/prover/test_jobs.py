"""The job queue on both backends (a real SQLite file, a real PostgreSQL server), with real
processes where concurrency matters."""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.process
import multiprocessing.synchronize
import queue as queue_module
import sqlite3
import time
from pathlib import Path

import pytest

from zkgate.prover.queue.database import MIGRATIONS, Database, SchemaTooNew
from zkgate.prover.queue.jobs import (
    JobKind,
    JobNotFound,
    JobState,
    LeaseLost,
    QueueFull,
)
from zkgate.prover.queue.sql_job_queue import SqlJobQueue

SHORT_LEASE = 0.2


@pytest.fixture
def queue(database: Database) -> SqlJobQueue:
    return SqlJobQueue(database, retry_backoff_seconds=SHORT_LEASE)


def test_enqueue_claim_succeed(queue: SqlJobQueue) -> None:
    job, created = queue.enqueue(JobKind.PROVE, "mlp", {"input": [1.5, 2]})
    assert created
    assert (job.state, job.attempts, job.max_attempts, job.terminal) == (
        JobState.QUEUED,
        0,
        3,
        False,
    )

    claimed = queue.claim("w1", lease_seconds=30)
    assert claimed is not None
    assert claimed.id == job.id
    assert claimed.payload == {"input": [1.5, 2]}
    assert (claimed.state, claimed.attempts, claimed.lease_owner) == (JobState.RUNNING, 1, "w1")
    assert claimed.lease_expires_at is not None
    assert claimed.lease_expires_at > time.time() + 25
    assert queue.claim("w2", lease_seconds=30) is None

    done = queue.succeed(job.id, "w1", {"proof_digest": "ab" * 32})
    assert done.state is JobState.SUCCEEDED
    assert done.terminal
    assert queue.get(job.id).result == {"proof_digest": "ab" * 32}


def test_schema_is_versioned_and_reopening_keeps_data(database_target: Path | str) -> None:
    first = Database(database_target)
    job, _ = SqlJobQueue(first).enqueue(JobKind.PROVE, "mlp", {})
    first.close()

    second = Database(database_target)
    assert second.schema_version() == len(MIGRATIONS)
    assert SqlJobQueue(second).get(job.id).id == job.id
    second.close()
    if isinstance(database_target, Path):
        with contextlib.closing(sqlite3.connect(database_target)) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_schema_from_a_newer_release_is_refused(database_target: Path | str) -> None:
    db = Database(database_target)
    db.transaction(
        lambda s: s.run(
            "INSERT INTO schema_version (version, applied_at) VALUES (?, 0)",
            (len(MIGRATIONS) + 1,),
        )
    )
    db.close()
    with pytest.raises(SchemaTooNew):
        Database(database_target)


def test_claim_takes_the_oldest_job_of_the_requested_kinds(queue: SqlJobQueue) -> None:
    register, _ = queue.enqueue(JobKind.REGISTER, "mlp", {})
    first, _ = queue.enqueue(JobKind.PROVE, "mlp", {"n": 1})
    second, _ = queue.enqueue(JobKind.PROVE, "mlp", {"n": 2})

    assert queue.claim("w", lease_seconds=30, kinds=[]) is None
    claimed = [queue.claim("w", lease_seconds=30, kinds={JobKind.PROVE}) for _ in range(3)]
    assert [job.id if job else None for job in claimed] == [first.id, second.id, None]
    remaining = queue.claim("w", lease_seconds=30)
    assert remaining is not None
    assert remaining.id == register.id


def test_idempotent_enqueue_returns_the_existing_job(queue: SqlJobQueue) -> None:
    job, created = queue.enqueue(JobKind.PROVE, "mlp", {"x": 1}, idempotency_key="k")
    again, created_again = queue.enqueue(JobKind.PROVE, "mlp", {"x": 1}, idempotency_key="k")
    assert (created, created_again) == (True, False)
    assert again == job

    queue.claim("w", lease_seconds=30)
    queue.succeed(job.id, "w", {"ok": True})
    after_success, created_after_success = queue.enqueue(
        JobKind.PROVE, "mlp", {"x": 1}, idempotency_key="k"
    )
    assert not created_after_success
    assert after_success.state is JobState.SUCCEEDED
    assert queue.counts()[JobState.SUCCEEDED] == 1
    assert sum(queue.counts().values()) == 1


@pytest.mark.parametrize("end", ["failed", "cancelled"])
def test_enqueue_resets_a_failed_or_cancelled_job(queue: SqlJobQueue, end: str) -> None:
    job, _ = queue.enqueue(JobKind.PROVE, "mlp", {"x": 1}, idempotency_key="k")
    queue.claim("w", lease_seconds=30)
    if end == "failed":
        queue.fail(job.id, "w", "constraint system is not satisfied", transient=False)
    else:
        queue.cancel(job.id)

    reset, created = queue.enqueue(JobKind.PROVE, "mlp", {"x": 2}, idempotency_key="k")
    assert created
    assert reset.id == job.id
    assert (reset.state, reset.attempts, reset.error, reset.lease_owner) == (
        JobState.QUEUED,
        0,
        None,
        None,
    )
    assert reset.payload == {"x": 2}
    claimed = queue.claim("w", lease_seconds=30)
    assert claimed is not None
    assert claimed.id == job.id


def test_queue_full_but_idempotent_hits_still_answer(database: Database) -> None:
    queue = SqlJobQueue(database, max_queued=2)
    first, _ = queue.enqueue(JobKind.PROVE, "mlp", {}, idempotency_key="a")
    queue.enqueue(JobKind.PROVE, "mlp", {})
    with pytest.raises(QueueFull, match="limit 2"):
        queue.enqueue(JobKind.PROVE, "mlp", {})
    assert queue.enqueue(JobKind.PROVE, "mlp", {}, idempotency_key="a") == (first, False)

    queue.claim("w", lease_seconds=30)  # one job leaves the queue, making room for one more
    queue.enqueue(JobKind.PROVE, "mlp", {})
    with pytest.raises(QueueFull):
        queue.enqueue(JobKind.PROVE, "mlp", {})


def test_payload_must_be_json(queue: SqlJobQueue) -> None:
    with pytest.raises(ValueError, match="JSON"):
        queue.enqueue(JobKind.PROVE, "mlp", {"x": float("nan")})
    with pytest.raises(TypeError):
        queue.enqueue(JobKind.PROVE, "mlp", {"x": object()})
    assert sum(queue.counts().values()) == 0


def test_expired_lease_is_reclaimed_and_the_old_owner_is_refused(queue: SqlJobQueue) -> None:
    job, _ = queue.enqueue(JobKind.PROVE, "mlp", {})
    assert queue.claim("lost", lease_seconds=SHORT_LEASE) is not None
    assert queue.claim("other", lease_seconds=30) is None  # lease still valid

    time.sleep(SHORT_LEASE + 0.05)
    taken = queue.claim("other", lease_seconds=30)
    assert taken is not None
    assert (taken.id, taken.lease_owner, taken.attempts) == (job.id, "other", 2)

    with pytest.raises(LeaseLost, match="held by other"):
        queue.succeed(job.id, "lost", {"stale": True})
    with pytest.raises(LeaseLost):
        queue.heartbeat(job.id, "lost", lease_seconds=30)
    assert queue.succeed(job.id, "other", {}).state is JobState.SUCCEEDED


def test_a_restarted_worker_releases_its_previous_incarnations_jobs(queue: SqlJobQueue) -> None:
    job, _ = queue.enqueue(JobKind.PROVE, "mlp", {})
    other, _ = queue.enqueue(JobKind.PROVE, "mlp", {"n": 2})
    assert queue.claim("prover-0", lease_seconds=600) is not None
    assert queue.claim("prover-1", lease_seconds=600) is not None

    assert queue.expire_leases("prover-0") == 1
    retaken = queue.claim("prover-0", lease_seconds=600)
    assert retaken is not None
    assert (retaken.id, retaken.attempts) == (job.id, 2)
    assert queue.get(other.id).lease_owner == "prover-1", "other workers' leases are untouched"


def test_heartbeat_keeps_the_lease(queue: SqlJobQueue) -> None:
    job, _ = queue.enqueue(JobKind.PROVE, "mlp", {})
    queue.claim("w", lease_seconds=SHORT_LEASE)
    queue.heartbeat(job.id, "w", lease_seconds=30)
    time.sleep(SHORT_LEASE + 0.05)
    assert queue.claim("other", lease_seconds=30) is None
    with pytest.raises(JobNotFound):
        queue.heartbeat("missing", "w", lease_seconds=30)


def test_leases_expiring_max_attempts_times_fail_the_job(queue: SqlJobQueue) -> None:
    job, _ = queue.enqueue(JobKind.PROVE, "mlp", {}, max_attempts=2)
    for worker in ("a", "b"):
        assert queue.claim(worker, lease_seconds=0.05) is not None
        time.sleep(0.1)

    assert queue.claim("c", lease_seconds=30) is None
    failed = queue.get(job.id)
    assert (failed.state, failed.attempts) == (JobState.FAILED, 2)
    assert failed.error == "lease expired on attempt 2 of 2 (last worker: b); no attempts left"
    with pytest.raises(LeaseLost, match="failed"):
        queue.succeed(job.id, "b", {})


def test_transient_failures_retry_until_attempts_run_out(queue: SqlJobQueue) -> None:
    job, _ = queue.enqueue(JobKind.PROVE, "mlp", {}, max_attempts=2)
    queue.claim("w", lease_seconds=30)
    retried = queue.fail(job.id, "w", "OSError: disk full", transient=True)
    assert (retried.state, retried.error, retried.lease_owner) == (
        JobState.QUEUED,
        "OSError: disk full",
        None,
    )
    assert queue.claim("w", lease_seconds=30) is None, "handed out again before its backoff"

    time.sleep(SHORT_LEASE + 0.05)
    assert queue.claim("w", lease_seconds=30) is not None
    final = queue.fail(job.id, "w", "OSError: disk still full", transient=True)
    assert (final.state, final.attempts, final.error) == (
        JobState.FAILED,
        2,
        "OSError: disk still full",
    )
    assert queue.claim("w", lease_seconds=30) is None


def test_deterministic_failure_is_final_at_once(queue: SqlJobQueue) -> None:
    job, _ = queue.enqueue(JobKind.PROVE, "mlp", {}, max_attempts=5)
    queue.claim("w", lease_seconds=30)
    failed = queue.fail(job.id, "w", "unsupported op: Loop", transient=False)
    assert (failed.state, failed.attempts, failed.error) == (
        JobState.FAILED,
        1,
        "unsupported op: Loop",
    )
    assert queue.claim("w", lease_seconds=30) is None


def test_cancel(queue: SqlJobQueue) -> None:
    queued, _ = queue.enqueue(JobKind.PROVE, "mlp", {})
    running, _ = queue.enqueue(JobKind.PROVE, "mlp", {})
    assert queue.cancel(queued.id).state is JobState.CANCELLED
    assert queue.claim("w", lease_seconds=30) is not None

    assert queue.cancel(running.id).state is JobState.CANCELLED
    with pytest.raises(LeaseLost, match="cancelled"):
        queue.succeed(running.id, "w", {})

    done, _ = queue.enqueue(JobKind.PROVE, "mlp", {})
    queue.claim("w", lease_seconds=30)
    queue.succeed(done.id, "w", {})
    assert queue.cancel(done.id).state is JobState.SUCCEEDED
    with pytest.raises(JobNotFound):
        queue.cancel("missing")
    with pytest.raises(JobNotFound):
        queue.get("missing")


def test_counts_lists_every_state(queue: SqlJobQueue) -> None:
    assert queue.counts() == dict.fromkeys(JobState, 0)
    queue.enqueue(JobKind.PROVE, "mlp", {})
    queue.enqueue(JobKind.PROVE, "mlp", {})
    queue.claim("w", lease_seconds=30)
    assert queue.counts() == {**dict.fromkeys(JobState, 0), JobState.QUEUED: 1, JobState.RUNNING: 1}


KEYS = [f"key-{n}" for n in range(100)]


Outcome = tuple[list[tuple[str, bool]], list[str]]


def _enqueue_then_claim(
    database_target: Path | str,
    worker_id: str,
    barrier: multiprocessing.synchronize.Barrier,
    results: multiprocessing.Queue[Outcome],
) -> None:
    """Every process enqueues the same keyed jobs at once, then claims until nothing is left."""
    queue = SqlJobQueue(Database(database_target))
    barrier.wait(timeout=30)
    enqueued = [
        queue.enqueue(JobKind.PROVE, "mlp", {"from": worker_id}, idempotency_key=key)
        for key in KEYS
    ]
    barrier.wait(timeout=30)
    claimed: list[str] = []
    while (job := queue.claim(worker_id, lease_seconds=60)) is not None:
        queue.succeed(job.id, worker_id, {"by": worker_id})
        claimed.append(job.id)
    results.put(([(job.id, created) for job, created in enqueued], claimed))


def _next_result(
    results: multiprocessing.Queue[Outcome], processes: list[multiprocessing.process.BaseProcess]
) -> Outcome:
    """Waits for a child's result, failing at once (not at a timeout) if a child died."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(queue_module.Empty):
            return results.get(timeout=0.1)
        crashed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
        assert not crashed, f"a worker process died with exit code {crashed[0]}"
    raise AssertionError("the worker processes did not finish within 60 s")


def test_processes_share_the_queue_safely(database_target: Path | str, queue: SqlJobQueue) -> None:
    unkeyed = {queue.enqueue(JobKind.PROVE, "mlp", {"n": n})[0].id for n in range(200)}
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    results: multiprocessing.Queue[Outcome] = ctx.Queue()
    processes: list[multiprocessing.process.BaseProcess] = [
        ctx.Process(
            target=_enqueue_then_claim,
            args=(database_target, f"worker-{n}", barrier, results),
            daemon=True,
        )
        for n in range(4)
    ]
    for process in processes:
        process.start()
    try:
        per_process = [_next_result(results, processes) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=10)
            process.kill()

    enqueues = [outcomes for outcomes, _ in per_process]
    assert sum(created for outcomes in enqueues for _, created in outcomes) == len(KEYS)
    keyed = set()
    for n in range(len(KEYS)):
        ids = {outcomes[n][0] for outcomes in enqueues}
        assert len(ids) == 1, f"{KEYS[n]} made {len(ids)} jobs"
        keyed |= ids

    claimed = [job_id for _, ids in per_process for job_id in ids]
    assert len(claimed) == len(set(claimed)) == 200 + len(KEYS)
    assert set(claimed) == unkeyed | keyed
    assert queue.counts()[JobState.SUCCEEDED] == 200 + len(KEYS)
    assert sum(1 for _, ids in per_process if ids) >= 2, "the processes never competed"
