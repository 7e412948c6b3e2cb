"""zkgate.v1.ProofService: job status, a server-streamed watch, proofs for past receipts, and
contests over them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from zkgate.core.oip_codec import decode_tensors
from zkgate.core.protocols.contest import ContestRequest
from zkgate.gateway.access_control import current_tenant
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


def job_message(status: JobStatus) -> pb.Job:
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
    )


class ProofServicer(zkgate_pb2_grpc.ProofServiceServicer):
    def __init__(
        self, service: GatewayService, notary: ContestNotary, *, poll_seconds: float = 0.05
    ) -> None:
        self._service = service
        self._notary = notary
        self._poll_seconds = poll_seconds

    @grpc_errors
    async def GetJob(self, request: pb.GetJobRequest, context: _Context) -> pb.Job:
        status = await asyncio.to_thread(
            self._service.job_status, request.job_id, current_tenant.get()
        )
        return job_message(status)

    @grpc_errors
    async def WatchJob(
        self, request: pb.WatchJobRequest, context: _Context
    ) -> AsyncIterator[pb.Job]:
        # Provers are other processes writing to the shared database, so watching means polling
        # it; a message goes out only when the job's state or attempt count changes.
        last: tuple[JobState, int] | None = None
        tenant = current_tenant.get()
        while True:
            status = await asyncio.to_thread(self._service.job_status, request.job_id, tenant)
            seen = (status.job.state, status.job.attempts)
            if seen != last:
                last = seen
                yield job_message(status)
            if status.job.terminal:
                return
            await asyncio.sleep(self._poll_seconds)

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
