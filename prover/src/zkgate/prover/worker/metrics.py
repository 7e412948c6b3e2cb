"""Prometheus metrics of prover workers: job outcomes, failures, queue wait, proving time and
key-cache use.

One worker's numbers come from two processes: the worker, which claims jobs and reports their
outcomes, and the child that runs the handlers (isolation.py), where keys are looked up. So they
are recorded with prometheus_client's multiprocess mode: every process writes its values to
files in one directory, and whoever serves /metrics sums the files (metrics_endpoint.py). Until
`record_to` names a directory (tests running the loop in-process, metrics turned off) values are
kept in memory and never read, which costs the same.

These metrics belong to no registry: in multiprocess mode the files are the only way to read
them, and leaving them out of the default registry keeps a gateway that imports this module
from exporting a second, empty copy beside its provers' files.

Label values come from fixed sets (job kinds, outcomes, failure reasons) or from the model
catalogue (the model of a prove job), so the number of series stays bounded.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from prometheus_client import Counter, Histogram, values

from zkgate.prover.artifacts.local_cache import CacheAccess
from zkgate.prover.queue.jobs import Job, JobKind, JobState

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


class AttemptOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    # A transient failure with attempts left: the job went back to the queue.
    REQUEUED = "requeued"
    FAILED = "failed"
    # The job was cancelled while it ran; its outcome was dropped.
    CANCELLED = "cancelled"
    # Another worker took the job over (the lease expired); this outcome was dropped.
    LEASE_LOST = "lease_lost"


class FailureReason(StrEnum):
    # Retrying cannot help: an unsupported model, unsatisfied constraints, a replaced model.
    DETERMINISTIC = "deterministic"
    # Anything else, the handler process dying included; retried while attempts remain.
    TRANSIENT = "transient"
    # The worker kept no valid lease (it stalled, or lost the database for too long).
    LEASE_EXPIRED = "lease_expired"


JOB_ATTEMPTS = Counter(
    "zkgate_job_attempts",
    "Job attempts finished by provers, by how they ended.",
    ["kind", "outcome"],
    registry=None,
)
JOB_FAILURES = Counter(
    "zkgate_job_failures",
    "Failed job attempts by reason (a requeued attempt counts as a transient failure).",
    ["kind", "reason"],
    registry=None,
)
JOB_QUEUE_WAIT = Histogram(
    "zkgate_job_queue_wait_seconds",
    "Time from a job's creation to its first claim by a prover.",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=None,
)
PROVING_DURATION = Histogram(
    "zkgate_proving_duration_seconds",
    "Wall time of successful prove jobs on a prover: witness, proof and its check.",
    ["model"],
    # From a small MLP (under a second) to a LeNet-size circuit (minutes).
    buckets=(0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
    registry=None,
)
KEY_CACHE_REQUESTS = Counter(
    "zkgate_key_cache_requests",
    "Lookups in a prover's local cache of keys and circuits; a miss downloads the artifact.",
    ["result"],
    registry=None,
)


def record_to(directory: Path) -> None:
    """Makes this process, and the processes it starts from now on, record into directory.

    prometheus_client picks file-backed values when it is imported and PROMETHEUS_MULTIPROC_DIR
    is set. A prover started by the gateway has it in its environment from the start; a
    standalone prover has imported the library before it parsed its flags, so the library's
    choice is made again here. Call it before recording anything: a series created earlier
    stays in memory.
    """
    os.environ[MULTIPROCESS_DIR_ENV] = str(directory)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    _create_fixed_series()


def _create_fixed_series() -> None:
    """Series with fixed label values exist from the start at 0, so a rate over them works
    before the first event."""
    for kind in JobKind:
        for outcome in AttemptOutcome:
            JOB_ATTEMPTS.labels(kind, outcome)
        for reason in FailureReason:
            JOB_FAILURES.labels(kind, reason)
    for result in ("hit", "miss"):
        KEY_CACHE_REQUESTS.labels(result)


def record_claim(job: Job) -> None:
    """Called with a job just claimed, whose updated_at is the time of the claim."""
    if job.attempts == 1:
        # Later attempts waited behind a failure or a lost worker, not behind other jobs.
        JOB_QUEUE_WAIT.labels(job.kind).observe(max(0.0, job.updated_at - job.created_at))


def record_proving_time(job: Job, seconds: float) -> None:
    """Called when a job's handler returned, whether or not its outcome is kept."""
    if job.kind == JobKind.PROVE:
        PROVING_DURATION.labels(job.model_name).observe(seconds)


_OUTCOMES = {
    JobState.SUCCEEDED: AttemptOutcome.SUCCEEDED,
    JobState.QUEUED: AttemptOutcome.REQUEUED,
    JobState.FAILED: AttemptOutcome.FAILED,
}


def record_outcome(job: Job, after: JobState, failure: FailureReason | None) -> None:
    """An attempt at job whose report left it in state after (failure: why it failed)."""
    JOB_ATTEMPTS.labels(job.kind, _OUTCOMES[after]).inc()
    if failure is not None:
        JOB_FAILURES.labels(job.kind, failure).inc()


def record_lost_lease(job: Job, *, cancelled: bool) -> None:
    """An attempt whose outcome was dropped: the job was cancelled, or its lease had expired."""
    if cancelled:
        JOB_ATTEMPTS.labels(job.kind, AttemptOutcome.CANCELLED).inc()
        return
    JOB_ATTEMPTS.labels(job.kind, AttemptOutcome.LEASE_LOST).inc()
    JOB_FAILURES.labels(job.kind, FailureReason.LEASE_EXPIRED).inc()


def record_key_cache(hit: bool) -> None:
    """One lookup in the key cache: hit if the artifact was on local disk already."""
    KEY_CACHE_REQUESTS.labels("hit" if hit else "miss").inc()


def record_cache_access(access: CacheAccess) -> None:
    """LocalCache's listener in a prover's handler process."""
    record_key_cache(access.hit)
