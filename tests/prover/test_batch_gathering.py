"""Gathering prove jobs into batches: claim_more on both real backends, and run_worker's batch
path with plain Python handlers on a real SQLite queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from zkgate.prover.queue.database import Database
from zkgate.prover.queue.jobs import Job, JobKind, JobState
from zkgate.prover.queue.sql_job_queue import SqlJobQueue
from zkgate.prover.worker.loop import Batching, DeterministicJobError, run_worker

KEY = "mlp:commitment-a"


@pytest.fixture
def queue(database_target: Path | str) -> Iterator[SqlJobQueue]:
    db = Database(database_target)
    yield SqlJobQueue(db)
    db.close()


def _enqueue(queue: SqlJobQueue, n: int, *, key: str | None = KEY, size: int = 4) -> list[Job]:
    return [
        queue.enqueue(JobKind.PROVE, "mlp", {"i": i, "batch_size": size}, batch_key=key)[0]
        for i in range(n)
    ]


def test_claim_more_takes_only_queued_jobs_of_the_key_oldest_first(queue: SqlJobQueue) -> None:
    mine = _enqueue(queue, 4)
    _enqueue(queue, 2, key="mlp:commitment-b")
    _enqueue(queue, 1, key=None)
    first = queue.claim("w1", lease_seconds=30)
    assert first is not None and first.id == mine[0].id
    more = queue.claim_more("w1", batch_key=KEY, limit=2, lease_seconds=30)
    assert [job.id for job in more] == [mine[1].id, mine[2].id]
    assert all((j.state, j.lease_owner, j.attempts) == (JobState.RUNNING, "w1", 1) for j in more)
    rest = queue.claim_more("w2", batch_key=KEY, limit=5, lease_seconds=30)
    assert [job.id for job in rest] == [mine[3].id]
    assert queue.claim_more("w2", batch_key=KEY, limit=5, lease_seconds=30) == []
    assert queue.claim_more("w2", batch_key=KEY, limit=0, lease_seconds=30) == []


def _unbatched(job: Job) -> dict[str, Any]:
    raise AssertionError(f"job {job.id} has a batch key but was proven alone")


class _Recorder:
    def __init__(self, fail: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self._fail = fail

    def __call__(self, jobs: Sequence[Job]) -> list[dict[str, Any]]:
        self.batches.append([job.payload["i"] for job in jobs])
        if self._fail is not None:
            raise self._fail
        return [{"batch_index": index} for index in range(len(jobs))]


@contextmanager
def _worker(queue: SqlJobQueue, handler: _Recorder, *, window: float) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker,
        args=(queue, {JobKind.PROVE: _unbatched}),
        kwargs={
            "worker_id": "w",
            "lease_seconds": 30.0,
            "poll_seconds": 0.02,
            "stop": stop,
            "batching": Batching(handler, window),
        },
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def _wait(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _run_until_done(
    queue: SqlJobQueue, handler: _Recorder, jobs: list[Job], *, window: float
) -> list[Job]:
    with _worker(queue, handler, window=window):
        _wait(lambda: all(queue.get(job.id).terminal for job in jobs))
    return [queue.get(job.id) for job in jobs]


@pytest.fixture
def sqlite_queue(tmp_path: Path) -> Iterator[SqlJobQueue]:
    db = Database(tmp_path / "zkgate.db")
    yield SqlJobQueue(db)
    db.close()


def test_a_full_batch_is_proven_together_and_each_job_gets_its_own_result(
    sqlite_queue: SqlJobQueue,
) -> None:
    jobs = _enqueue(sqlite_queue, 6)
    handler = _Recorder()
    done = _run_until_done(sqlite_queue, handler, jobs, window=0.3)
    assert handler.batches == [[0, 1, 2, 3], [4, 5]]
    assert [job.state for job in done] == [JobState.SUCCEEDED] * 6
    assert [job.result for job in done] == [{"batch_index": i} for i in (0, 1, 2, 3, 0, 1)]


def test_a_lone_job_is_proven_once_the_window_has_passed(sqlite_queue: SqlJobQueue) -> None:
    (job,) = _enqueue(sqlite_queue, 1)
    handler = _Recorder()
    (done,) = _run_until_done(sqlite_queue, handler, [job], window=0.5)
    assert handler.batches == [[0]]
    assert done.state == JobState.SUCCEEDED
    assert done.updated_at - done.created_at >= 0.5


def test_a_failure_fails_every_job_of_the_batch(sqlite_queue: SqlJobQueue) -> None:
    jobs = _enqueue(sqlite_queue, 3)
    handler = _Recorder(fail=DeterministicJobError("constraints not satisfied"))
    done = _run_until_done(sqlite_queue, handler, jobs, window=0.1)
    assert [(job.state, job.error) for job in done] == [
        (JobState.FAILED, "constraints not satisfied")
    ] * 3


def test_a_transient_failure_sends_every_job_back(sqlite_queue: SqlJobQueue) -> None:
    jobs = _enqueue(sqlite_queue, 2)
    handler = _Recorder(fail=OSError("disk full"))
    with _worker(sqlite_queue, handler, window=0.1):
        _wait(lambda: bool(handler.batches))
    states = {sqlite_queue.get(job.id).state for job in jobs}
    assert states == {JobState.QUEUED}
    assert all("disk full" in (sqlite_queue.get(job.id).error or "") for job in jobs)
