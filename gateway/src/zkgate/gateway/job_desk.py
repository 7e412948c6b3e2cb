"""A tenant's jobs: each with its progress estimate, listed a page at a time, and cancelled.

Built on the base service's job_status, which holds the tenant rule (a job of another tenant
is PERMISSION_DENIED, an unknown one NOT_FOUND); listings never show another tenant's jobs at
all. Cancelling a running registration marks its model version failed at once, since its
prover is stopped before it could (a version left "registering" would never serve).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from zkgate.core.card import ModelCard
from zkgate.core.documents import quote
from zkgate.gateway.access_control import Tenant
from zkgate.gateway.errors import InvalidRequest
from zkgate.gateway.job_estimates import (
    measured_stages,
    proof_seconds_remaining,
    registration_seconds_remaining,
)
from zkgate.gateway.service import JobStatus
from zkgate.prover.queue.catalog import ModelCatalog, ModelNotFound, ModelState
from zkgate.prover.queue.jobs import Job, JobCursor, JobFilter, JobKind, JobQueue, JobState

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_CARD_CACHE = 256


@dataclass(frozen=True)
class JobView:
    """A job as its tenant sees it: its status (with the proof, once there is one) and an
    estimate of the seconds it still needs (None: nothing measured, or it ended)."""

    status: JobStatus
    seconds_remaining: float | None


@dataclass(frozen=True)
class JobQuery:
    states: frozenset[JobState] | None = None
    model_name: str | None = None
    kind: JobKind | None = None
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class JobPage:
    jobs: list[JobView]
    # Empty on the last page.
    next_page_token: str


class JobDesk:
    def __init__(
        self,
        queue: JobQueue,
        catalog: ModelCatalog,
        job_status: Callable[[str, Tenant], JobStatus],
    ) -> None:
        self._queue = queue
        self._catalog = catalog
        self._job_status = job_status

    def view(self, job_id: str, tenant: Tenant) -> JobView:
        status = self._job_status(job_id, tenant)
        return JobView(status, self._estimate(status.job))

    def list(self, tenant: Tenant, query: JobQuery) -> JobPage:
        """The tenant's jobs matching query, newest first; INVALID_ARGUMENT for a page size
        over MAX_PAGE_SIZE or a page token this gateway did not hand out."""
        if query.page_size > MAX_PAGE_SIZE:
            raise InvalidRequest(
                f"page_size {query.page_size} is over {MAX_PAGE_SIZE}; ask for fewer and follow "
                "next_page_token"
            )
        size = query.page_size or DEFAULT_PAGE_SIZE
        which = JobFilter(tenant.name, query.states, query.model_name, query.kind)
        after = _read_page_token(query.page_token) if query.page_token else None
        jobs = self._queue.list_jobs(which, limit=size + 1, after=after)
        page, more = jobs[:size], len(jobs) > size
        token = _page_token(JobCursor(page[-1].created_at, page[-1].id)) if more else ""
        views = [JobView(JobStatus(job, None), self._estimate(job)) for job in page]
        return JobPage(views, token)

    def cancel(self, job_id: str, tenant: Tenant) -> JobView:
        """Cancels the tenant's job (see JobQueue.cancel); a job that ended is left as it is."""
        before = self._job_status(job_id, tenant).job
        cancelled = self._queue.cancel(job_id)
        if before.kind == JobKind.REGISTER and cancelled.state == JobState.CANCELLED:
            self._fail_registration(before.model_name, job_id)
        return JobView(JobStatus(cancelled, None), None)

    def _fail_registration(self, name: str, job_id: str) -> None:
        """Marks the cancelled job's version failed, unless it became ready first (its prover
        looks at the job before it marks a version ready: job_handlers.py)."""
        for record in self._catalog.versions(name):
            if record.registration_job_id == job_id and record.state == ModelState.REGISTERING:
                self._catalog.mark_failed(
                    name, f"registration cancelled (job {job_id})", job_id=job_id
                )

    def _estimate(self, job: Job) -> float | None:
        now = time.time()
        if job.terminal:
            return None
        if job.kind == JobKind.PROVE:
            card = self._card(job.model_name, str(job.payload.get("commitment", "")))
            return None if card is None else proof_seconds_remaining(job, card, now=now)
        measured = self._measured_registration(job.tenant, job.model_name, job.id)
        return registration_seconds_remaining(job, measured, now=now)

    @functools.lru_cache(maxsize=_CARD_CACHE)  # noqa: B019 - the desk lives as long as the gateway
    def _card(self, name: str, commitment: str) -> ModelCard | None:
        """A version's card (cached: a commitment names one card for good)."""
        try:
            record = self._catalog.get(name, commitment)
        except ModelNotFound:
            return None
        return None if record.card_json is None else ModelCard.from_json(record.card_json)

    @functools.lru_cache(maxsize=_CARD_CACHE)  # noqa: B019 - as _card
    def _measured_registration(self, tenant: str, name: str, job_id: str) -> dict[str, float]:
        """The stage timings of the model's last successful registration before job_id's
        (cached per job: while it runs, no newer one can succeed under the same name)."""
        previous = self._queue.list_jobs(
            JobFilter(tenant, frozenset({JobState.SUCCEEDED}), name, JobKind.REGISTER),
            limit=1,
            after=None,
        )
        return measured_stages(previous[0] if previous else None)


def _page_token(cursor: JobCursor) -> str:
    raw = json.dumps([cursor.created_at, cursor.job_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _read_page_token(token: str) -> JobCursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created_at, job_id = json.loads(raw)
        if isinstance(created_at, int | float) and isinstance(job_id, str):
            return JobCursor(float(created_at), job_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        pass
    raise InvalidRequest(
        f"page_token {quote(token)} is not one this gateway handed out: pass a response's "
        "next_page_token unchanged, or none for the first page"
    )
