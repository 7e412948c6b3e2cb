"""Durable jobs: the work a gateway hands to prover workers, with leases so a lost worker's job
is picked up again, and idempotency keys so a repeated request does not repeat the work.

What a job is and what a job store offers; the store on the shared database is SqlJobQueue
(sql_job_queue.py).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
# An idempotency key whose job ended in one of these may be used again to run the work anew.
RETRYABLE_STATES = frozenset({JobState.FAILED, JobState.CANCELLED})


class JobKind(StrEnum):
    REGISTER = "register"
    PROVE = "prove"


@dataclass(frozen=True)
class Job:
    id: str
    # Whose job it is; idempotency keys are per tenant, so two tenants never share a job.
    tenant: str
    kind: JobKind
    state: JobState
    model_name: str
    payload: dict[str, Any]
    idempotency_key: str | None
    attempts: int
    max_attempts: int
    error: str | None
    result: dict[str, Any] | None
    lease_owner: str | None
    lease_expires_at: float | None
    # A queued job is not handed out before this time (the backoff after a transient failure).
    available_at: float
    created_at: float
    updated_at: float
    # Jobs with the same key may be proven together in one batch (see claim_more).
    batch_key: str | None = None
    # The peak memory the job needs (a prove job: its circuit's measured proof); None: unknown,
    # any prover may take it. Only provers whose budget holds it claim it (provers.py).
    memory_bytes: int | None = None
    # What the running job is doing (a JobStage value; "" before its first report or while
    # queued) and since when; when its current attempt was claimed.
    stage: str = ""
    stage_started_at: float | None = None
    started_at: float | None = None
    # A queued job's place among the queued jobs of its kind, in the order provers take them
    # (1: next); None for any other state. Read with the job, never stored.
    queue_position: int | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


class JobNotFound(LookupError):
    pass


class LeaseLost(RuntimeError):
    """The caller no longer holds the job: its lease expired and another worker took it, or the
    job was cancelled. Whatever the caller computed must be dropped."""


@dataclass(frozen=True)
class JobFilter:
    """Which of a tenant's jobs a listing returns; None: any."""

    tenant: str
    states: frozenset[JobState] | None = None
    model_name: str | None = None
    kind: JobKind | None = None


@dataclass(frozen=True)
class JobCursor:
    """Where a page of a listing (newest first) ended: the last job's creation time and id."""

    created_at: float
    job_id: str


class QueueFull(RuntimeError):
    pass


class TenantQuotaExceeded(QueueFull):
    """The tenant has as many unfinished jobs as its quota allows."""


class JobQueue(Protocol):
    """What the gateway and workers need from a job store."""

    def enqueue(
        self,
        kind: JobKind,
        model_name: str,
        payload: dict[str, Any],
        *,
        tenant: str = "",
        idempotency_key: str | None = None,
        max_attempts: int = 3,
        tenant_quota: int = 0,
        batch_key: str | None = None,
        memory_bytes: int | None = None,
    ) -> tuple[Job, bool]: ...

    def get(self, job_id: str) -> Job: ...

    def claim(
        self,
        worker_id: str,
        *,
        lease_seconds: float,
        kinds: Collection[JobKind] | None = None,
        prefer_models: Collection[str] = (),
        memory_budget: int | None = None,
    ) -> Job | None: ...

    def claim_more(
        self, worker_id: str, *, batch_key: str, limit: int, lease_seconds: float
    ) -> list[Job]: ...

    def heartbeat(self, job_id: str, worker_id: str, *, lease_seconds: float) -> None: ...

    def expire_leases(self, worker_id: str) -> int: ...

    def succeed(self, job_id: str, worker_id: str, result: dict[str, Any]) -> Job: ...

    def fail(self, job_id: str, worker_id: str, error: str, *, transient: bool) -> Job: ...

    def cancel(self, job_id: str) -> Job: ...

    def report_stage(self, job_id: str, worker_id: str, stage: str) -> Job: ...

    def list_jobs(self, which: JobFilter, *, limit: int, after: JobCursor | None) -> list[Job]: ...

    def counts(self) -> dict[JobState, int]: ...
