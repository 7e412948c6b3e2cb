"""Handlers in a child process: the worker keeps its lease while ezkl-like calls hold the GIL,
a child that dies mid-job costs one transient attempt, not the worker, and a cancelled job's
child is stopped (an ezkl call cannot be interrupted any other way)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zkgate.prover.queue.database import Database
from zkgate.prover.queue.jobs import Job, JobKind, JobState
from zkgate.prover.queue.sql_job_queue import SqlJobQueue
from zkgate.prover.worker.isolation import ChildProcessHandlers, HandlerProcessDied
from zkgate.prover.worker.loop import JobHandler, run_worker

LEASE = 0.6


def _hold_the_gil_or_die(job: Job) -> dict[str, Any]:
    if job.payload.get("die"):
        os._exit(1)
    if pid_file := job.payload.get("pid_file"):
        # Far longer than the test: only a kill ends this job in time.
        Path(pid_file).write_text(str(os.getpid()))
        time.sleep(120)
    # A single C call that keeps the GIL for about two seconds, as ezkl.prove does for a proof.
    total = sum(range(100_000_000))
    return {"total": total, "pid": os.getpid()}


def _factory() -> dict[JobKind, JobHandler]:
    return {JobKind.PROVE: _hold_the_gil_or_die}


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[SqlJobQueue]:
    db = Database(tmp_path / "zkgate.db")
    yield SqlJobQueue(db)
    db.close()


@pytest.fixture
def worker(queue: SqlJobQueue) -> Iterator[ChildProcessHandlers]:
    isolated = ChildProcessHandlers(_factory, frozenset({JobKind.PROVE}))
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker,
        args=(queue, isolated.handlers()),
        kwargs={
            "worker_id": "w",
            "lease_seconds": LEASE,
            "poll_seconds": 0.02,
            "stop": stop,
            "on_abandoned": isolated.stop_current,
        },
    )
    thread.start()
    yield isolated
    stop.set()
    thread.join(60)
    isolated.close()


def _wait(queue: SqlJobQueue, job_id: str, states: set[JobState], timeout: float = 60) -> Job:
    deadline = time.monotonic() + timeout
    while (job := queue.get(job_id)).state not in states:
        assert time.monotonic() < deadline, f"job stuck in {job.state}"
        time.sleep(0.02)
    return job


def test_lease_stays_alive_while_the_child_holds_its_gil(
    queue: SqlJobQueue, worker: ChildProcessHandlers
) -> None:
    job, _ = queue.enqueue(JobKind.PROVE, "m", {})
    _wait(queue, job.id, {JobState.RUNNING})
    thefts = 0
    while queue.get(job.id).state == JobState.RUNNING:
        # Each attempt comes after more than a lease's worth of GIL-holding work has begun.
        stolen = queue.claim("thief", lease_seconds=30)
        if stolen is not None:
            thefts += 1
            queue.fail(stolen.id, "thief", "stolen", transient=True)
        time.sleep(LEASE / 2)
    done = queue.get(job.id)
    assert thefts == 0, "the lease expired while the handler ran"
    assert (done.state, done.attempts) == (JobState.SUCCEEDED, 1)
    assert done.result is not None and done.result["total"] == sum(range(100_000_000))


def test_a_child_that_dies_costs_one_transient_attempt(
    queue: SqlJobQueue, worker: ChildProcessHandlers
) -> None:
    dying, _ = queue.enqueue(JobKind.PROVE, "m", {"die": True}, max_attempts=1)
    failed = _wait(queue, dying.id, {JobState.FAILED})
    assert failed.error is not None and HandlerProcessDied.__name__ in failed.error
    # The worker carries on with a new child.
    job, _ = queue.enqueue(JobKind.PROVE, "m", {})
    assert _wait(queue, job.id, {JobState.SUCCEEDED, JobState.FAILED}).state == JobState.SUCCEEDED


def _alive(pid: int) -> bool:
    """Running: a killed child stays a zombie until it is reaped."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_cancelling_a_running_job_kills_its_child(
    queue: SqlJobQueue, worker: ChildProcessHandlers, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    job, _ = queue.enqueue(JobKind.PROVE, "m", {"pid_file": str(pid_file)})
    deadline = time.monotonic() + 60
    while not pid_file.exists():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)
    child = int(pid_file.read_text())

    cancelled_at = time.monotonic()
    assert queue.cancel(job.id).state == JobState.CANCELLED
    while _alive(child):
        assert time.monotonic() - cancelled_at < 10, "the child outlived its cancelled job"
        time.sleep(0.02)

    # The dead child's failure is dropped: the job stays cancelled; the next runs in a new child.
    after, _ = queue.enqueue(JobKind.PROVE, "m", {})
    done = _wait(queue, after.id, {JobState.SUCCEEDED, JobState.FAILED})
    assert done.state == JobState.SUCCEEDED
    assert done.result is not None and done.result["pid"] != child
    assert (queue.get(job.id).state, queue.get(job.id).attempts) == (JobState.CANCELLED, 1)
