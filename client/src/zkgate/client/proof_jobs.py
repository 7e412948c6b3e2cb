"""The Client's calls that follow jobs: asking for a past prediction's proof, watching a job's
progress and waiting for it to end, listing the caller's jobs and cancelling one. Every
protocol that proves something waits here."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from zkgate.client.connection import GatewayConnection
from zkgate.core.batch_entry import BatchEntry
from zkgate.core.oip_codec import encode_input
from zkgate.core.prediction import Prediction
from zkgate.wire import open_inference_pb2 as oip
from zkgate.wire import zkgate_pb2 as pb


def batch_entry_of(job: pb.Job) -> BatchEntry | None:
    """The request's entry in its batched proof, or None for a proof of its own."""
    if job.batch_size <= 1:
        return None
    return BatchEntry(
        index=job.batch_index,
        size=job.batch_size,
        outputs=[list(tensor.felts) for tensor in job.batch_outputs],
    )


class ProofJobFailed(RuntimeError):
    """The gateway's prover gave up on a job; `job` holds its state and error text."""

    def __init__(self, job: pb.Job, what: str = "") -> None:
        """`what`: which proof this was, when the caller knows more than the job id."""
        state = pb.JobState.Name(job.state)
        ended = f"job {job.job_id} ended {state}: {job.error or 'no error text'}"
        super().__init__(f"{what}: {ended}" if what else ended)
        self.job = job


class ProofCalls(GatewayConnection):
    def request_proof(self, prediction: Prediction) -> str:
        """Asks for the proof of a past receipt (one not proven at inference time)."""
        request = oip.ModelInferRequest(model_name=prediction.model, id=prediction.request_id)
        for tensor in prediction.inputs:
            encode_input(request, tensor)
        job: pb.Job = self._proofs.RequestProof(
            pb.RequestProofRequest(receipt=prediction.receipt.to_json(), request=request),
            timeout=self._timeout,
        )
        return job.job_id

    def job(self, job_id: str) -> pb.Job:
        result: pb.Job = self._proofs.GetJob(pb.GetJobRequest(job_id=job_id), timeout=self._timeout)
        return result

    def watch_job(self, job_id: str, *, timeout: float = 900.0) -> Iterator[pb.Job]:
        """The job at each change (state, attempt, stage, queue position) until it ends."""
        yield from self._proofs.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=timeout)

    def wait_for_job(
        self,
        job_id: str,
        *,
        timeout: float = 900.0,
        on_update: Callable[[pb.Job], None] | None = None,
    ) -> pb.Job:
        """Follows the server stream to the end, telling on_update of each change (a progress
        display); raises ProofJobFailed unless the job succeeded."""
        last: pb.Job | None = None
        for update in self.watch_job(job_id, timeout=timeout):
            if on_update is not None:
                on_update(update)
            last = update
        if last is None or last.state != pb.JOB_STATE_SUCCEEDED:
            raise ProofJobFailed(last or pb.Job(job_id=job_id))
        return last

    def list_jobs(
        self,
        *,
        states: Iterable[pb.JobState.ValueType] = (),
        model_name: str = "",
        kind: pb.JobKind.ValueType = pb.JOB_KIND_UNSPECIFIED,
        page_size: int = 0,
        page_token: str = "",
    ) -> pb.ListJobsResponse:
        """One page of the caller's jobs, newest first; follow next_page_token for more."""
        request = pb.ListJobsRequest(
            states=list(states),
            model_name=model_name,
            kind=kind,
            page_size=page_size,
            page_token=page_token,
        )
        response: pb.ListJobsResponse = self._proofs.ListJobs(request, timeout=self._timeout)
        return response

    def cancel_job(self, job_id: str) -> pb.Job:
        """Cancels the job (a running one's prover stops); an ended job comes back as it is."""
        job: pb.Job = self._proofs.CancelJob(
            pb.CancelJobRequest(job_id=job_id), timeout=self._timeout
        )
        return job

    def wait_for_proof(self, job_id: str, *, timeout: float = 900.0) -> bytes:
        """The ezkl proof JSON, once the prover has stored it."""
        return self.wait_for_job(job_id, timeout=timeout).proof
