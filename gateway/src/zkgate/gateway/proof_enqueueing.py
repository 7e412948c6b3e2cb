"""Turning a model's inputs into a durable prove job that the right provers will claim."""

from __future__ import annotations

from collections.abc import Sequence

from zkgate.core.card import ModelCard
from zkgate.core.tensors import NamedTensor
from zkgate.gateway.access_control import Tenant
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.circuits.witness_input import witness_input_json
from zkgate.prover.queue.catalog import ModelRecord
from zkgate.prover.queue.jobs import Job, JobKind, JobQueue


def enqueue_proof(
    queue: JobQueue,
    store: ArtifactStore,
    record: ModelRecord,
    card: ModelCard,
    inputs: Sequence[NamedTensor],
    input_digest: str,
    tenant: Tenant,
) -> Job:
    """Idempotent: the same model and input always map to one job and one proof, per tenant;
    two tenants never share a job, so neither learns what the other asked. card is record's,
    parsed (LoadedModel.card)."""
    witness_digest = store.put_bytes(witness_input_json(inputs))
    payload: dict[str, object] = {
        "commitment": record.commitment,
        "input_digest": input_digest,
        "witness_input_digest": witness_digest,
    }
    batch_key = None
    # The measured peak of a proof of the circuit the job uses: only a prover that can hold it
    # claims the job, and none live that can raises NoProverCanHold here.
    memory_bytes = card.prove_peak_rss_bytes
    if card.batch is not None:
        # Requests of every tenant share batches: the proof shows each entry only hashed.
        payload["batch_size"] = card.batch.size
        batch_key = f"{record.name}:{record.commitment}"
        memory_bytes = card.batch.prove_peak_rss_bytes
    job, _ = queue.enqueue(
        JobKind.PROVE,
        record.name,
        payload,
        idempotency_key=f"prove:{record.commitment}:{input_digest}",
        tenant=tenant.name,
        tenant_quota=tenant.max_queued_jobs,
        batch_key=batch_key,
        memory_bytes=memory_bytes,
    )
    return job
