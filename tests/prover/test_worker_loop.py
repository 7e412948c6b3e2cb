"""run_worker in a real thread against a real SQLite queue, with plain Python handlers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from zkgate.prover.queue.database import Database
from zkgate.prover.queue.jobs import Job, JobKind, JobState
from zkgate.prover.queue.sql_job_queue import SqlJobQueue
from zkgate.prover.worker.loop import DeterministicJobError, JobHandler, run_worker


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[SqlJobQueue]:
    db = Database(tmp_path / "zkgate.db")
    yield SqlJobQueue(db)
    db.close()


class RunningWorker:
    """A worker thread that the test stops and joins, failing if it does not stop promptly."""

    def __init__(
        self,
        queue: SqlJobQueue,
        handlers: dict[JobKind, JobHandler],
        *,
        lease_seconds: float = 30.0,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=run_worker,
            args=(queue, handlers),
            kwargs={
                "worker_id": "worker-under-test",
                "lease_seconds": lease_seconds,
                "poll_seconds": 0.02,
                "stop": self.stop,
                "on_idle": on_idle,
            },
        )
        self.thread.start()

    def shutdown(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive(), "run_worker did not stop"


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _all_terminal(queue: SqlJobQueue, jobs: list[Job]) -> Callable[[], bool]:
    return lambda: all(queue.get(job.id).terminal for job in jobs)


def test_worker_processes_jobs_and_classifies_failures(queue: SqlJobQueue) -> None:
    flaky_calls = 0

    def prove(job: Job) -> dict[str, Any]:
        nonlocal flaky_calls
        match job.payload["mode"]:
            case "bad":
                raise DeterministicJobError("constraint system is not satisfied")
            case "broken":
                raise OSError("disk full")
            case "flaky":
                flaky_calls += 1
                if flaky_calls == 1:
                    raise ConnectionError("store unreachable")
        return {"doubled": job.payload["x"] * 2}

    def register(job: Job) -> dict[str, Any]:
        return {"registered": job.model_name}

    jobs = [
        queue.enqueue(JobKind.PROVE, "mlp", {"mode": mode, "x": n}, max_attempts=2)[0]
        for n, mode in enumerate(["ok", "bad", "broken", "flaky", "ok"])
    ]
    jobs.append(queue.enqueue(JobKind.REGISTER, "lenet", {})[0])

    worker = RunningWorker(queue, {JobKind.PROVE: prove, JobKind.REGISTER: register})
    try:
        _wait_until(_all_terminal(queue, jobs))
    finally:
        worker.shutdown()

    ok, bad, broken, flaky, ok_again, registered = (queue.get(job.id) for job in jobs)
    assert (ok.state, ok.result) == (JobState.SUCCEEDED, {"doubled": 0})
    assert (ok_again.state, ok_again.result) == (JobState.SUCCEEDED, {"doubled": 8})
    assert (bad.state, bad.attempts, bad.error) == (
        JobState.FAILED,
        1,
        "constraint system is not satisfied",
    )
    assert (broken.state, broken.attempts, broken.error) == (
        JobState.FAILED,
        2,
        "OSError: disk full",
    )
    assert (flaky.state, flaky.attempts, flaky.result) == (JobState.SUCCEEDED, 2, {"doubled": 6})
    assert (registered.state, registered.result) == (
        JobState.SUCCEEDED,
        {"registered": "lenet"},
    )


def test_worker_claims_only_kinds_it_has_handlers_for(queue: SqlJobQueue) -> None:
    idle = threading.Event()
    register_job, _ = queue.enqueue(JobKind.REGISTER, "mlp", {})
    worker = RunningWorker(queue, {JobKind.PROVE: lambda job: {}}, on_idle=idle.set)
    try:
        assert idle.wait(5), "on_idle was never called"
    finally:
        worker.shutdown()
    assert queue.get(register_job.id).state is JobState.QUEUED


def test_heartbeat_keeps_a_long_job_leased(queue: SqlJobQueue) -> None:
    lease = 0.45
    stolen: list[Job | None] = []

    def slow(job: Job) -> dict[str, Any]:
        deadline = time.monotonic() + 2 * lease
        while time.monotonic() < deadline:
            stolen.append(queue.claim("thief", lease_seconds=30))
            time.sleep(lease / 6)
        return {"done": True}

    job, _ = queue.enqueue(JobKind.PROVE, "mlp", {})
    worker = RunningWorker(queue, {JobKind.PROVE: slow}, lease_seconds=lease)
    try:
        _wait_until(lambda: queue.get(job.id).terminal or any(stolen))
    finally:
        worker.shutdown()

    assert stolen
    assert stolen == [None] * len(stolen), "the lease ran out while the handler was running"
    done = queue.get(job.id)
    assert (done.state, done.attempts, done.lease_owner) == (
        JobState.SUCCEEDED,
        1,
        "worker-under-test",
    )


def test_outcome_of_a_lost_job_is_dropped(
    queue: SqlJobQueue, caplog: pytest.LogCaptureFixture
) -> None:
    def cancelled_midway(job: Job) -> dict[str, Any]:
        queue.cancel(job.id)
        return {"late": True}

    job, _ = queue.enqueue(JobKind.PROVE, "mlp", {})
    follow_up, _ = queue.enqueue(JobKind.PROVE, "mlp", {})
    handlers: dict[JobKind, JobHandler] = {
        JobKind.PROVE: lambda j: {} if j.id == follow_up.id else cancelled_midway(j)
    }
    with caplog.at_level(logging.WARNING, logger="zkgate.prover.worker.loop"):
        worker = RunningWorker(queue, handlers)
        try:
            _wait_until(_all_terminal(queue, [job, follow_up]))
        finally:
            worker.shutdown()

    lost = queue.get(job.id)
    assert (lost.state, lost.result) == (JobState.CANCELLED, None)
    assert queue.get(follow_up.id).state is JobState.SUCCEEDED, "the worker should carry on"
    assert any(f"dropping the outcome of job {job.id}" in r.message for r in caplog.records)


def test_worker_stops_promptly_when_idle(queue: SqlJobQueue) -> None:
    worker = RunningWorker(queue, {JobKind.PROVE: lambda job: {}})
    time.sleep(0.1)
    started = time.monotonic()
    worker.shutdown()
    assert time.monotonic() - started < 0.5
