"""The prover worker loop: claim a job, keep its lease alive, run its handler, report the outcome.

Lease length. The heartbeat renews the lease every third of it from a thread of its own, which
only works if nothing holds the GIL for long: ezkl.prove does for its whole call (pyo3 without
allow_threads), so the worker process runs its handlers in a child process (isolation.py). A
lease then needs to cover only a few missed heartbeats, and a lost worker's job is retried
within that time. A handler run in-process (as tests do) must be given a lease longer than its
longest ezkl call.

Batching. A prove job that carries a batch key (its model has a batch circuit) is proven
together with other queued jobs of the same key: the worker that claims it waits until the job
is the batch window old, or until the batch is full, claiming more such jobs as they come, and
then proves them all in one call. A lone job is proven after the window, padded out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zkgate.prover.queue.jobs import Job, JobKind, JobQueue, JobState, LeaseLost
from zkgate.prover.queue.sql_session import DatabaseUnavailable
from zkgate.prover.worker import metrics
from zkgate.prover.worker.metrics import FailureReason

logger = logging.getLogger("zkgate.prover.worker.loop")

DEFAULT_LEASE_SECONDS = 30.0
# An idle worker looks for work this often. A claim is one indexed SQLite query, so polling at
# 20 Hz costs nothing measurable, while the wait adds directly to every proof's latency (half
# the interval on average, against proofs of under a second for small circuits).
DEFAULT_POLL_SECONDS = 0.05

# How long a finished job's outcome waits for an unreachable database before it is given up.
REPORT_PATIENCE_SECONDS = 300.0

# How long the oldest job of a batch waits for others to join it. Short, against proofs of
# seconds: under load batches fill before the window ends, and a lone request loses little.
DEFAULT_BATCH_WINDOW_SECONDS = 0.5

JobHandler = Callable[[Job], dict[str, Any]]
# Proves a batch of prove jobs (all of one batch key) at once; one result per job, in order.
BatchHandler = Callable[[Sequence[Job]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Batching:
    handler: BatchHandler
    window_seconds: float = DEFAULT_BATCH_WINDOW_SECONDS


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
    prefer_models: Callable[[], Collection[str]] | None = None,
    batching: Batching | None = None,
    memory_budget: int | None = None,
) -> None:
    """Processes jobs of the kinds in handlers that memory_budget holds (if given: see
    queue/provers.py) until stop is set; jobs of the models that prefer_models names before each
    claim come first (key_affinity.py). Without batching, jobs with a batch key are proven one
    at a time like any other.

    stop is checked between jobs: a running handler is never interrupted, so a caller that wants
    a prompt shutdown must let the current job finish (or end the process, and the lease makes
    another worker pick the job up).
    """
    kinds = frozenset(handlers)
    _release_orphans(queue, worker_id, kinds)
    while not stop.is_set():
        try:
            job = queue.claim(
                worker_id,
                lease_seconds=lease_seconds,
                kinds=kinds,
                prefer_models=prefer_models() if prefer_models is not None else (),
                memory_budget=memory_budget,
            )
        except Exception:
            logger.exception("worker %s could not claim a job; retrying", worker_id)
            stop.wait(poll_seconds)
            continue
        if job is None:
            if on_idle is not None:
                on_idle()
            stop.wait(poll_seconds)
            continue
        metrics.record_claim(job)
        if batching is not None and job.kind == JobKind.PROVE and job.batch_key is not None:
            _process_batch(
                queue,
                batching,
                job,
                worker_id=worker_id,
                lease_seconds=lease_seconds,
                poll_seconds=poll_seconds,
                stop=stop,
            )
        else:
            _process_one(queue, handlers, job, worker_id=worker_id, lease_seconds=lease_seconds)
    logger.info("worker %s stopped", worker_id)


def _release_orphans(queue: JobQueue, worker_id: str, kinds: frozenset[JobKind]) -> None:
    """A worker starting under an id frees the jobs its previous incarnation held (see
    JobQueue.expire_leases), so they run again now rather than after their lease."""
    orphaned = queue.expire_leases(worker_id)
    logger.info(
        "worker %s started for %s; %d orphaned job(s) of a previous run released",
        worker_id,
        ", ".join(sorted(kinds)),
        orphaned,
    )


def _process_one(
    queue: JobQueue,
    handlers: Mapping[JobKind, JobHandler],
    job: Job,
    *,
    worker_id: str,
    lease_seconds: float,
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
    with _Heartbeat(queue, [job.id], worker_id, lease_seconds):
        _run_and_report(queue, [job], lambda: [handlers[job.kind](job)], worker_id=worker_id)


def _process_batch(
    queue: JobQueue,
    batching: Batching,
    first: Job,
    *,
    worker_id: str,
    lease_seconds: float,
    poll_seconds: float,
    stop: threading.Event,
) -> None:
    size = int(first.payload["batch_size"])
    batch_key = first.batch_key
    assert batch_key is not None
    jobs = [first]
    deadline = first.created_at + batching.window_seconds
    with _Heartbeat(queue, [first.id], worker_id, lease_seconds) as heartbeat:
        while len(jobs) < size:
            try:
                more = queue.claim_more(
                    worker_id,
                    batch_key=batch_key,
                    limit=size - len(jobs),
                    lease_seconds=lease_seconds,
                )
            except Exception:
                logger.exception(
                    "worker %s could not gather a batch; proving what it has", worker_id
                )
                break
            for job in more:
                metrics.record_claim(job)
                heartbeat.add(job.id)
            jobs.extend(more)
            remaining = deadline - time.time()
            if len(jobs) >= size or remaining <= 0 or stop.is_set():
                break
            stop.wait(min(poll_seconds, remaining))
        logger.info(
            "worker %s proves a batch of %d of %d for %s: jobs %s",
            worker_id,
            len(jobs),
            size,
            first.model_name,
            ", ".join(job.id for job in jobs),
        )
        _run_and_report(queue, jobs, lambda: batching.handler(jobs), worker_id=worker_id)


def _run_and_report(
    queue: JobQueue,
    jobs: Sequence[Job],
    run: Callable[[], list[dict[str, Any]]],
    *,
    worker_id: str,
) -> None:
    """Runs the handler call for jobs and reports each job's outcome; a failure is every job's
    failure, transient or not alike."""
    started = time.monotonic()
    try:
        results = run()
    except Exception as exc:
        transient = not isinstance(exc, DeterministicJobError)
        error = f"{type(exc).__name__}: {exc}" if transient else str(exc)
        reason = FailureReason.TRANSIENT if transient else FailureReason.DETERMINISTIC
        for job in jobs:
            if transient:
                logger.warning("job %s attempt %d failed", job.id, job.attempts, exc_info=True)
            _report(
                queue,
                job,
                lambda job=job: queue.fail(job.id, worker_id, error, transient=transient),  # type: ignore[misc]
                reason,
            )
        return
    elapsed = time.monotonic() - started
    for job, result in zip(jobs, results, strict=True):
        metrics.record_proving_time(job, elapsed)
        _report(
            queue,
            job,
            lambda job=job, result=result: queue.succeed(job.id, worker_id, result),  # type: ignore[misc]
            None,
        )


def _report(
    queue: JobQueue, job: Job, complete: Callable[[], Job], failure: FailureReason | None
) -> None:
    """Reports the outcome, waiting out a database outage (a restart, a failover) for up to
    REPORT_PATIENCE_SECONDS: a finished proof is worth keeping, and the job stays this worker's
    until another worker claims it after the lease."""
    deadline = time.monotonic() + REPORT_PATIENCE_SECONDS
    while True:
        try:
            outcome = complete()
        except LeaseLost as exc:
            logger.warning("dropping the outcome of job %s: %s", job.id, exc)
            metrics.record_lost_lease(job, cancelled=_cancelled(queue, job.id))
            return
        except DatabaseUnavailable as exc:
            if time.monotonic() > deadline:
                raise
            logger.warning("cannot report job %s yet, retrying: %s", job.id, exc)
            time.sleep(1.0)
            continue
        logger.info("job %s is %s", outcome.id, outcome.state)
        metrics.record_outcome(job, outcome.state, failure)
        return


def _cancelled(queue: JobQueue, job_id: str) -> bool:
    """Whether a lost lease was a cancellation rather than an expiry (for metrics only)."""
    try:
        return queue.get(job_id).state == JobState.CANCELLED
    except Exception:
        logger.warning("cannot read job %s to tell why its lease was lost", job_id, exc_info=True)
        return False


class _Heartbeat:
    """Renews the leases of the jobs in hand every lease_seconds / 3 from its own thread while
    the handler runs (or a batch gathers)."""

    def __init__(
        self, queue: JobQueue, job_ids: list[str], worker_id: str, lease_seconds: float
    ) -> None:
        self._queue = queue
        self._job_ids = list(job_ids)
        self._lock = threading.Lock()
        self._worker_id = worker_id
        self._lease_seconds = lease_seconds
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{job_ids[0]}", daemon=True
        )

    def add(self, job_id: str) -> None:
        with self._lock:
            self._job_ids.append(job_id)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self._lease_seconds / 3):
            with self._lock:
                job_ids = list(self._job_ids)
            for job_id in job_ids:
                try:
                    self._queue.heartbeat(
                        job_id, self._worker_id, lease_seconds=self._lease_seconds
                    )
                except LeaseLost as exc:
                    # The handler cannot be interrupted; its outcome is dropped when it reports.
                    logger.warning("lost the lease of job %s: %s", job_id, exc)
                    with self._lock:
                        self._job_ids.remove(job_id)
                except Exception:
                    logger.exception("heartbeat of job %s failed; retrying", job_id)
