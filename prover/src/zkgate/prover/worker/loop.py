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

# How often a running job's worker looks for a cancellation (one indexed read), so that a
# cancelled job's proving child is stopped within about this long, whatever the lease.
CANCEL_CHECK_SECONDS = 0.5

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
    on_abandoned: Callable[[], None] | None = None,
) -> None:
    """Processes jobs of the kinds in handlers that memory_budget holds (if given: see
    queue/provers.py) until stop is set; jobs of the models that prefer_models names before each
    claim come first (key_affinity.py). Without batching, jobs with a batch key are proven one
    at a time like any other.

    on_abandoned is called (from the heartbeat's thread) when every job in hand was cancelled or
    taken over while its handler runs: the caller stops the handler's child (isolation.py),
    whose outcome would be dropped anyway.

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
                _Lease(worker_id, lease_seconds, on_abandoned),
                poll_seconds=poll_seconds,
                stop=stop,
            )
        else:
            _process_one(queue, handlers, job, _Lease(worker_id, lease_seconds, on_abandoned))
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


@dataclass(frozen=True)
class _Lease:
    """How a worker holds its jobs: its id, the lease it renews, and what to call when every
    job in hand is lost while its handler runs."""

    worker_id: str
    seconds: float
    on_abandoned: Callable[[], None] | None = None


def _process_one(
    queue: JobQueue, handlers: Mapping[JobKind, JobHandler], job: Job, lease: _Lease
) -> None:
    worker_id = lease.worker_id
    logger.info(
        "worker %s runs %s job %s for %s (attempt %d of %d)",
        worker_id,
        job.kind,
        job.id,
        job.model_name,
        job.attempts,
        job.max_attempts,
    )
    with _Heartbeat(queue, [job.id], lease):
        _run_and_report(queue, [job], lambda: [handlers[job.kind](job)], worker_id=worker_id)


def _process_batch(
    queue: JobQueue,
    batching: Batching,
    first: Job,
    lease: _Lease,
    *,
    poll_seconds: float,
    stop: threading.Event,
) -> None:
    worker_id, lease_seconds = lease.worker_id, lease.seconds
    size = int(first.payload["batch_size"])
    batch_key = first.batch_key
    assert batch_key is not None
    jobs = [first]
    deadline = first.created_at + batching.window_seconds
    with _Heartbeat(queue, [first.id], lease) as heartbeat:
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
    """Renews the leases of the jobs in hand every lease / 3 from its own thread while the
    handler runs (or a batch gathers), and looks for cancellations every CANCEL_CHECK_SECONDS:
    once no job in hand is still held, it calls the lease's on_abandoned."""

    def __init__(self, queue: JobQueue, job_ids: list[str], lease: _Lease) -> None:
        self._queue = queue
        self._job_ids = list(job_ids)
        self._lock = threading.Lock()
        self._lease = lease
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
        renew_every = self._lease.seconds / 3
        next_renewal = time.monotonic() + renew_every
        while not self._done.wait(min(renew_every, CANCEL_CHECK_SECONDS)):
            renew = time.monotonic() >= next_renewal
            if renew:
                next_renewal = time.monotonic() + renew_every
            with self._lock:
                job_ids = list(self._job_ids)
            lost = [job_id for job_id in job_ids if not self._still_held(job_id, renew=renew)]
            if not lost:
                continue
            with self._lock:
                self._job_ids = [job_id for job_id in self._job_ids if job_id not in lost]
                abandoned = not self._job_ids
            if abandoned and self._lease.on_abandoned is not None and not self._done.is_set():
                logger.info("every job in hand was lost; stopping its handler")
                self._lease.on_abandoned()
                return

    def _still_held(self, job_id: str, *, renew: bool) -> bool:
        """Renews the lease (renew) or looks for a cancellation; False once the job is lost.
        The handler cannot be interrupted: without on_abandoned, its outcome is dropped when
        it reports."""
        try:
            if renew:
                self._queue.heartbeat(
                    job_id, self._lease.worker_id, lease_seconds=self._lease.seconds
                )
            elif self._queue.get(job_id).state == JobState.CANCELLED:
                logger.warning("job %s was cancelled", job_id)
                return False
        except LeaseLost as exc:
            logger.warning("lost the lease of job %s: %s", job_id, exc)
            return False
        except Exception:
            logger.exception("heartbeat of job %s failed; retrying", job_id)
        return True
