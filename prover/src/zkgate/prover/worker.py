"""The prover worker loop: claim a job, keep its lease alive, run its handler, report the outcome.

Lease length. The heartbeat renews the lease every third of it from a thread of its own, which
only works if nothing holds the GIL for long: ezkl.prove does for its whole call (pyo3 without
allow_threads), so the worker process runs its handlers in a child process (isolation.py). A
lease then needs to cover only a few missed heartbeats, and a lost worker's job is retried
within that time. A handler run in-process (as tests do) must be given a lease longer than its
longest ezkl call.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from zkgate.prover.jobs import Job, JobKind, JobQueue, LeaseLost

logger = logging.getLogger("zkgate.prover.worker")

DEFAULT_LEASE_SECONDS = 30.0
# An idle worker looks for work this often. A claim is one indexed SQLite query, so polling at
# 20 Hz costs nothing measurable, while the wait adds directly to every proof's latency (half
# the interval on average, against proofs of under a second for small circuits).
DEFAULT_POLL_SECONDS = 0.05

JobHandler = Callable[[Job], dict[str, Any]]


class DeterministicJobError(Exception):
    """Retrying cannot help (bad model, unsatisfied constraints)."""


def run_worker(
    queue: JobQueue,
    handlers: Mapping[JobKind, JobHandler],
    *,
    worker_id: str,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    stop: threading.Event,
    on_idle: Callable[[], None] | None = None,
) -> None:
    """Processes jobs of the kinds in handlers until stop is set.

    stop is checked between jobs: a running handler is never interrupted, so a caller that wants
    a prompt shutdown must let the current job finish (or end the process, and the lease makes
    another worker pick the job up).
    """
    kinds = frozenset(handlers)
    orphaned = queue.expire_leases(worker_id)
    logger.info(
        "worker %s started for %s; %d orphaned job(s) of a previous run released",
        worker_id,
        ", ".join(sorted(kinds)),
        orphaned,
    )
    while not stop.is_set():
        try:
            job = queue.claim(worker_id, lease_seconds=lease_seconds, kinds=kinds)
        except Exception:
            logger.exception("worker %s could not claim a job; retrying", worker_id)
            stop.wait(poll_seconds)
            continue
        if job is None:
            if on_idle is not None:
                on_idle()
            stop.wait(poll_seconds)
            continue
        _process(queue, handlers[job.kind], job, worker_id=worker_id, lease_seconds=lease_seconds)
    logger.info("worker %s stopped", worker_id)


def _process(
    queue: JobQueue, handler: JobHandler, job: Job, *, worker_id: str, lease_seconds: float
) -> None:
    logger.info(
        "worker %s runs %s job %s for %s (attempt %d of %d)",
        worker_id,
        job.kind,
        job.id,
        job.model_name,
        job.attempts,
        job.max_attempts,
    )
    with _Heartbeat(queue, job.id, worker_id, lease_seconds):
        try:
            result = handler(job)
        except DeterministicJobError as exc:
            final_error = str(exc)
            _report(
                job, worker_id, lambda: queue.fail(job.id, worker_id, final_error, transient=False)
            )
            return
        except Exception as exc:
            logger.warning("job %s attempt %d failed", job.id, job.attempts, exc_info=True)
            error = f"{type(exc).__name__}: {exc}"
            _report(job, worker_id, lambda: queue.fail(job.id, worker_id, error, transient=True))
            return
    _report(job, worker_id, lambda: queue.succeed(job.id, worker_id, result))


def _report(job: Job, worker_id: str, complete: Callable[[], Job]) -> None:
    try:
        outcome = complete()
    except LeaseLost as exc:
        logger.warning("dropping the outcome of job %s: %s", job.id, exc)
        return
    logger.info("job %s is %s", outcome.id, outcome.state)


class _Heartbeat:
    """Renews a job's lease every lease_seconds / 3 from its own thread while the handler runs."""

    def __init__(self, queue: JobQueue, job_id: str, worker_id: str, lease_seconds: float) -> None:
        self._queue = queue
        self._job_id = job_id
        self._worker_id = worker_id
        self._lease_seconds = lease_seconds
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self._lease_seconds / 3):
            try:
                self._queue.heartbeat(
                    self._job_id, self._worker_id, lease_seconds=self._lease_seconds
                )
            except LeaseLost as exc:
                # The handler cannot be interrupted; its outcome is dropped when it reports.
                logger.warning("lost the lease of job %s: %s", self._job_id, exc)
                return
            except Exception:
                logger.exception("heartbeat of job %s failed; retrying", self._job_id)
