"""Where a protocol's proof jobs stand: the accuracy evaluator and the retrieval responder each
queue one job per sampled item, keep the job ids in a stored record, and report on them alike
while the proofs come in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from zkgate.core.canonical import sha256_hex
from zkgate.gateway.access_control import Tenant
from zkgate.gateway.service import GatewayService
from zkgate.prover.queue.jobs import JobState

_FAILED = (JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class ProvenJob:
    proof: bytes
    result: dict[str, Any]

    @property
    def proof_digest(self) -> str:
        return sha256_hex(self.proof)


@dataclass(frozen=True)
class ProofJobs:
    job_ids: list[str]
    # The jobs whose proof is in, by position in job_ids.
    proven: dict[int, ProvenJob]
    failed: int

    @property
    def complete(self) -> bool:
        return len(self.proven) == len(self.job_ids)

    def proofs_by_digest(self) -> dict[str, str]:
        """The proofs as a certificate or result carries them: each once, under its SHA-256."""
        return {job.proof_digest: job.proof.decode("utf-8") for job in self.proven.values()}


def proof_jobs(
    service: GatewayService, entries: Sequence[dict[str, Any]], tenant: Tenant
) -> ProofJobs:
    """The jobs of a stored record's entries, each of which names its job by `job_id`."""
    job_ids = [str(entry["job_id"]) for entry in entries]
    statuses = [service.job_status(job_id, tenant) for job_id in job_ids]
    return ProofJobs(
        job_ids=job_ids,
        proven={
            position: ProvenJob(proof=status.proof, result=status.job.result)
            for position, status in enumerate(statuses)
            if status.proof is not None and status.job.result is not None
        },
        failed=sum(status.job.state in _FAILED for status in statuses),
    )
