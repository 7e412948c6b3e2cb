"""zkgate.v1.ProofService: job status and progress, a server-streamed watch, a tenant's job
listing and cancellation, proofs for past receipts, and contests over them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from zkgate.core.oip_codec import decode_tensors
from zkgate.core.protocols.contest import ContestRequest
from zkgate.gateway.access_control import current_tenant
from zkgate.gateway.errors import InvalidRequest
from zkgate.gateway.job_desk import JobDesk, JobQuery, JobView
from zkgate.gateway.protocols.contest import ContestNotary
from zkgate.gateway.service import GatewayService, JobStatus
from zkgate.gateway.servicers.status_codes import grpc_errors
from zkgate.prover.queue.jobs import JobKind, JobState
from zkgate.wire import zkgate_pb2 as pb
from zkgate.wire import zkgate_pb2_grpc

_Context = grpc.aio.ServicerContext[Any, Any]

_STATE_TO_WIRE = {
    JobState.QUEUED: pb.JOB_STATE_QUEUED,
    JobState.RUNNING: pb.JOB_STATE_RUNNING,
    JobState.SUCCEEDED: pb.JOB_STATE_SUCCEEDED,
    JobState.FAILED: pb.JOB_STATE_FAILED,
    JobState.CANCELLED: pb.JOB_STATE_CANCELLED,
}
_KIND_TO_WIRE = {JobKind.REGISTER: pb.JOB_KIND_REGISTER, JobKind.PROVE: pb.JOB_KIND_PROVE}
_STATE_FROM_WIRE = {wire: state for state, wire in _STATE_TO_WIRE.items()}
_KIND_FROM_WIRE = {wire: kind for kind, wire in _KIND_TO_WIRE.items()}


def job_message(status: JobStatus, seconds_remaining: float | None = None) -> pb.Job:
    job = status.job
    result = job.result if job.state == JobState.SUCCEEDED and job.result else {}
    return pb.Job(
        job_id=job.id,
        kind=_KIND_TO_WIRE[job.kind],
        state=_STATE_TO_WIRE[job.state],
        model_name=job.model_name,
        commitment=str(job.payload.get("commitment", "")),
        input_digest=str(job.payload.get("input_digest", "")),
        attempts=job.attempts,
        error=job.error or "",
        proof=status.proof or b"",
        created_at=job.created_at,
        updated_at=job.updated_at,
        batch_index=int(result.get("batch_index", 0)),
        batch_size=int(result.get("batch_size", 0)),
        batch_outputs=[pb.ProvenTensor(felts=felts) for felts in result.get("batch_outputs", [])],
        stage=job.stage,
        queue_position=job.queue_position or 0,
        started_at=job.started_at or 0.0,
        stage_started_at=job.stage_started_at or 0.0,
        estimated_seconds_remaining=seconds_remaining,
    )


def _view_message(view: JobView) -> pb.Job:
    return job_message(view.status, view.seconds_remaining)


def job_query(request: pb.ListJobsRequest) -> JobQuery:
    """The listing's filters; INVALID_ARGUMENT for a state or kind that is not one."""
    states = None
    if request.states:
        unknown = [s for s in request.states if s not in _STATE_FROM_WIRE]
        if unknown:
            raise InvalidRequest(
                f"states {unknown} are not job states: use {sorted(_STATE_FROM_WIRE)} "
                "(JOB_STATE_QUEUED ... JOB_STATE_CANCELLED), or none for any"
            )
        states = frozenset(_STATE_FROM_WIRE[s] for s in request.states)
    kind = None
    if request.kind != pb.JOB_KIND_UNSPECIFIED:
        if request.kind not in _KIND_FROM_WIRE:
            raise InvalidRequest(
                f"kind {request.kind} is not a job kind: use JOB_KIND_REGISTER (1), "
                "JOB_KIND_PROVE (2), or JOB_KIND_UNSPECIFIED for any"
            )
        kind = _KIND_FROM_WIRE[request.kind]
    return JobQuery(
        states=states,
        model_name=request.model_name or None,
        kind=kind,
        page_size=request.page_size,
        page_token=request.page_token,
    )


class ProofServicer(zkgate_pb2_grpc.ProofServiceServicer):
    def __init__(
        self,
        jobs: JobDesk,
        service: GatewayService,
        notary: ContestNotary,
        *,
        poll_seconds: float = 0.05,
    ) -> None:
        self._jobs = jobs
        self._service = service
        self._notary = notary
        self._poll_seconds = poll_seconds

    @grpc_errors
    async def GetJob(self, request: pb.GetJobRequest, context: _Context) -> pb.Job:
        view = await asyncio.to_thread(self._jobs.view, request.job_id, current_tenant.get())
        return _view_message(view)

    @grpc_errors
    async def WatchJob(
        self, request: pb.WatchJobRequest, context: _Context
    ) -> AsyncIterator[pb.Job]:
        # Provers are other processes writing to the shared database, so watching means polling
        # it; a message goes out only when the job's state, attempt, stage or queue position
        # changes (not for the estimate alone, which changes with the clock).
        last: tuple[JobState, int, str, int | None] | None = None
        tenant = current_tenant.get()
        while True:
            view = await asyncio.to_thread(self._jobs.view, request.job_id, tenant)
            job = view.status.job
            seen = (job.state, job.attempts, job.stage, job.queue_position)
            if seen != last:
                last = seen
                yield _view_message(view)
            if job.terminal:
                return
            await asyncio.sleep(self._poll_seconds)

    @grpc_errors
    async def ListJobs(self, request: pb.ListJobsRequest, context: _Context) -> pb.ListJobsResponse:
        query = job_query(request)
        page = await asyncio.to_thread(self._jobs.list, current_tenant.get(), query)
        return pb.ListJobsResponse(
            jobs=[_view_message(view) for view in page.jobs],
            next_page_token=page.next_page_token,
        )

    @grpc_errors
    async def CancelJob(self, request: pb.CancelJobRequest, context: _Context) -> pb.Job:
        view = await asyncio.to_thread(self._jobs.cancel, request.job_id, current_tenant.get())
        return _view_message(view)

    @grpc_errors
    async def RequestProof(self, request: pb.RequestProofRequest, context: _Context) -> pb.Job:
        tensors = decode_tensors(request.request.inputs, request.request.raw_input_contents)
        job = await asyncio.to_thread(
            self._service.request_proof, request.receipt, tensors, current_tenant.get()
        )
        return job_message(JobStatus(job=job, proof=None))

    @grpc_errors
    async def OpenContest(
        self, request: pb.OpenContestRequest, context: _Context
    ) -> pb.SignedStatement:
        statement = self._notary.open(
            ContestRequest(
                receipt_set_digest=request.receipt_set_digest,
                receipt_count=request.receipt_count,
                client_nonce_sha256=request.client_nonce_sha256,
                sample_size=request.sample_size,
                deadline_ms=request.deadline_ms,
            )
        )
        return pb.SignedStatement(statement_json=statement.to_json())
