"""The gateway's base service: register models, serve predictions, sign receipts, hand proof
work to provers.

Nothing here knows about gRPC; the servicers decode requests into these calls and encode the
results. Inference never waits on proving: a proof is a row in the durable job queue, and the
caller gets the job id at once. The protocols (gateway/protocols: learning, contests, accuracy,
retrieval) are built on this service and never called by it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from zkgate.core.bundle import VerifierBundle
from zkgate.core.card import ModelCard
from zkgate.core.documents import quote
from zkgate.core.receipts import Receipt, ReceiptBody, ReceiptError
from zkgate.core.tensors import NamedTensor, ordered, tensors_digest
from zkgate.gateway.access_control import ANONYMOUS, PermissionDenied, Tenant
from zkgate.gateway.circuit_request import checked_circuit_request
from zkgate.gateway.errors import InvalidRequest, NotFound, NotReady, ProofsDisabled
from zkgate.gateway.model_runtime import LoadedModel, ModelRuntime
from zkgate.gateway.predicate_names import PREDICATE_PREFIX, tenant_predicate_prefix
from zkgate.gateway.ready_model_cache import ReadyModels
from zkgate.gateway.receipt_signer import ReceiptSigner
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.circuits.witness_input import witness_input_json
from zkgate.prover.queue.catalog import (
    ModelCatalog,
    ModelNotFound,
    ModelRecord,
    ModelState,
    ProofPolicy,
)
from zkgate.prover.queue.jobs import Job, JobKind, JobNotFound, JobQueue, JobState


@dataclass(frozen=True)
class Registration:
    model: ModelRecord
    job: Job


@dataclass(frozen=True)
class InferenceResult:
    model: ModelRecord
    inputs: list[NamedTensor]
    outputs: list[NamedTensor]
    receipt: Receipt
    # The request asked for a proof, or the model's policy is `always`: see `enqueue_proof`.
    proof_wanted: bool


@dataclass(frozen=True)
class JobStatus:
    job: Job
    # The ezkl proof JSON once a prove job has succeeded.
    proof: bytes | None


class GatewayService:
    def __init__(
        self,
        *,
        catalog: ModelCatalog,
        queue: JobQueue,
        store: ArtifactStore,
        signer: ReceiptSigner,
        max_logrows: int,
        default_policy: ProofPolicy,
        srs_directory: Path,
        learning_terms: Callable[[bytes], dict[str, object]],
    ) -> None:
        """srs_directory: where this node's provers keep SRS files; registrations may name
        ceremony files only there. learning_terms: the learning protocol's reading of a
        proof-of-learning upload: it refuses what no prover could unpack before a job is queued
        for it, and gives the terms the prover verifies under (the archive's format and the
        terms are that protocol's, not this service's)."""
        self._catalog = catalog
        self._queue = queue
        self._store = store
        self._signer = signer
        self._runtime = ModelRuntime(store)
        self._ready_models = ReadyModels(catalog.get)
        self._max_logrows = max_logrows
        self._default_policy = default_policy
        self._srs_directory = srs_directory
        self._learning_terms = learning_terms

    @property
    def receipt_public_key(self) -> bytes:
        return self._signer.public_key

    # -- models -----------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        *,
        onnx: bytes,
        calibration: bytes,
        policy: ProofPolicy | None,
        max_logrows: int | None,
        param_visibility: str,
        srs_path: str,
        srs_sha256: str,
        proof_of_learning: bytes = b"",
        tenant: Tenant = ANONYMOUS,
        batch_size: int = 0,
        admin_only: bool = True,
        scale: int | None = None,
        fidelity: str = "",
        tuning: str = "",
    ) -> Registration:
        """`proof_of_learning`: an archive for the prover to verify against `onnx`; empty for
        none. `batch_size` above 1 also builds a batch circuit (cross-request batching). Only
        admin tenants register models to serve everyone; `admin_only=False` is for circuits a
        tenant brings for itself (a retrieval predicate), and the job counts against its quota.
        `scale` fixes the circuit's fixed-point scale (input and parameters) instead of letting
        calibration choose it: a retrieval requester decides what the circuit is held to.
        `fidelity` and `tuning` (empty for the defaults) set the circuit search (see
        zkgate.core.fidelity_target)."""
        self._check_registrant(name, tenant, admin_only=admin_only)
        circuit = checked_circuit_request(
            name,
            onnx=onnx,
            calibration=calibration,
            max_logrows=max_logrows,
            logrows_limit=self._max_logrows,
            param_visibility=param_visibility,
            srs_path=srs_path,
            srs_sha256=srs_sha256,
            srs_directory=self._srs_directory,
            batch_size=batch_size,
            scale=scale,
            fidelity=fidelity,
            tuning=tuning,
        )
        learning = self._learning_fields(proof_of_learning)
        return self._queue_registration(
            name, policy or self._default_policy, onnx, calibration, {**circuit, **learning}, tenant
        )

    def _queue_registration(
        self,
        name: str,
        policy: ProofPolicy,
        onnx: bytes,
        calibration: bytes,
        settings: dict[str, object],
        tenant: Tenant,
    ) -> Registration:
        """Stores the uploads, lists the model as registering and queues the job that builds it."""
        onnx_digest = self._store.put_bytes(onnx)
        calibration_digest = self._store.put_bytes(calibration)
        record = self._catalog.create(
            name, policy=policy, onnx_digest=onnx_digest, calibration_digest=calibration_digest
        )
        job, _ = self._queue.enqueue(
            JobKind.REGISTER,
            name,
            {"onnx_digest": onnx_digest, "calibration_digest": calibration_digest, **settings},
            max_attempts=2,
            tenant=tenant.name,
            tenant_quota=tenant.max_queued_jobs,
        )
        self._catalog.attach_job(name, job.id)
        return Registration(model=self._catalog.get(record.name), job=job)

    def _check_registrant(self, name: str, tenant: Tenant, *, admin_only: bool) -> None:
        if admin_only and not tenant.admin:
            raise PermissionDenied(
                f"tenant {tenant.name!r} may not register models: that takes an admin key"
            )
        if admin_only and name.startswith(PREDICATE_PREFIX):
            raise InvalidRequest(
                f"model names starting with {PREDICATE_PREFIX!r} are kept for retrieval "
                "predicates; choose another name"
            )

    def _learning_fields(self, proof_of_learning: bytes) -> dict[str, object]:
        """The registration job's proof-of-learning fields; none without an archive."""
        if not proof_of_learning:
            return {}
        terms = self._learning_terms(proof_of_learning)
        return {"learning_archive_digest": self._store.put_bytes(proof_of_learning), **terms}

    def registration_of(self, name: str, tenant: Tenant) -> Registration | None:
        """The tenant's registration of `name` if one is under way or done; None if there is
        none or it failed (the name may then be registered again)."""
        try:
            record = self._catalog.get(name)
        except ModelNotFound:
            return None
        if record.state == ModelState.FAILED or record.registration_job_id is None:
            return None
        return Registration(
            model=record, job=self.job_status(record.registration_job_id, tenant).job
        )

    def list_models(self, tenant: Tenant = ANONYMOUS) -> list[ModelRecord]:
        """Every served model, and of the retrieval predicates only the tenant's own: a
        predicate is a tenant's query, and its card names the hash of its ONNX."""
        own = tenant_predicate_prefix(tenant)
        return [
            record
            for record in self._catalog.list()
            if not record.name.startswith(PREDICATE_PREFIX) or record.name.startswith(own)
        ]

    def get_model(self, name: str) -> ModelRecord:
        return _found(self._catalog.get, name)

    def ready_model(self, name: str) -> ModelRecord:
        """The record requests are served from: kept in memory once ready (see
        ready_model_cache)."""
        record = _found(self._ready_models.get, name)
        if record.state == ModelState.REGISTERING:
            raise NotReady(
                f"model {name!r} is still registering (job {record.registration_job_id}); "
                "retry once it is ready"
            )
        if record.state == ModelState.FAILED or record.commitment is None:
            raise NotReady(f"model {name!r} failed to register: {record.error}")
        return record

    def loaded_model(self, name: str) -> tuple[ModelRecord, LoadedModel]:
        record = self.ready_model(name)
        assert record.commitment is not None and record.card_json is not None
        return record, self._runtime.get(record.commitment, record.card_json)

    def verifier_bundle(self, name: str, *, batch: bool = False) -> VerifierBundle:
        """The model's bundle, or with batch its batch circuit's (same card)."""
        record = self.ready_model(name)
        assert record.card_json is not None
        card = ModelCard.from_json(record.card_json)
        artifacts = card.artifacts
        if batch:
            if card.batch is None:
                raise NotFound(f"model {name!r} has no batch circuit (registered without batching)")
            artifacts = card.batch.artifacts
        return VerifierBundle(
            card=card,
            card_json=record.card_json,
            verifying_key=self._store.read_bytes(artifacts["vk"]),
            settings=self._store.read_bytes(artifacts["settings"]),
            srs_slice=self._store.read_bytes(artifacts["srs_slice"]),
        )

    # -- inference --------------------------------------------------------------------------

    def infer(
        self,
        name: str,
        tensors: Sequence[NamedTensor],
        *,
        request_id: str,
        prove: bool,
    ) -> InferenceResult:
        record, model = self.loaded_model(name)
        assert record.commitment is not None
        if prove and record.policy == ProofPolicy.NEVER:
            raise ProofsDisabled(f"model {name!r} has proof policy 'never'")
        inputs = self._ordered_inputs(model, tensors)
        outputs = model.run(inputs)
        input_digest = tensors_digest(inputs)
        receipt = self._signer.sign(
            ReceiptBody(
                model=name,
                commitment=record.commitment,
                input_digest=input_digest,
                output_digest=tensors_digest(outputs),
                request_id=request_id or uuid.uuid4().hex,
                issued_at_ms=int(time.time() * 1000),
            )
        )
        return InferenceResult(
            model=record,
            inputs=inputs,
            outputs=outputs,
            receipt=receipt,
            proof_wanted=prove or record.policy == ProofPolicy.ALWAYS,
        )

    def enqueue_proof(self, result: InferenceResult, tenant: Tenant = ANONYMOUS) -> Job:
        """The durable proof job for an inference; a separate step because it writes to disk
        (milliseconds), which an async caller keeps off its event loop, while inference itself
        takes microseconds."""
        return self._enqueue_proof(
            result.model, result.inputs, result.receipt.body.input_digest, tenant
        )

    def request_proof(
        self, receipt_json: str, tensors: Sequence[NamedTensor], tenant: Tenant = ANONYMOUS
    ) -> Job:
        """Proof for a past receipt: the receipt must be ours and the inputs must be its inputs."""
        try:
            receipt = Receipt.from_json(receipt_json)
            receipt.verify_signature(self._signer.public_key)
        except ReceiptError as exc:
            raise InvalidRequest(f"receipt rejected: {exc}") from exc
        record, model = self.loaded_model(receipt.body.model)
        if record.policy == ProofPolicy.NEVER:
            raise ProofsDisabled(f"model {record.name!r} has proof policy 'never'")
        if record.commitment != receipt.body.commitment:
            raise NotReady(
                f"model {record.name!r} now serves commitment {record.commitment}, not the "
                f"receipt's {receipt.body.commitment}; its proofs can no longer be made"
            )
        inputs = self._checked_inputs(model, tensors)
        input_digest = tensors_digest(inputs)
        if input_digest != receipt.body.input_digest:
            raise InvalidRequest(
                "the inputs sent do not match the receipt's input digest; send the exact tensors "
                "of the original request"
            )
        return self._enqueue_proof(record, inputs, input_digest, tenant)

    def prove_inputs(
        self, name: str, tensors: Sequence[NamedTensor], tenant: Tenant = ANONYMOUS
    ) -> Job:
        """A proof of the model on inputs nobody was served (an accuracy evaluation's examples):
        no receipt, otherwise the same job, batched and idempotent, as any other."""
        record, model = self.loaded_model(name)
        if record.policy == ProofPolicy.NEVER:
            raise ProofsDisabled(f"model {name!r} has proof policy 'never'")
        inputs = self._checked_inputs(model, tensors)
        return self._enqueue_proof(record, inputs, tensors_digest(inputs), tenant)

    def _ordered_inputs(
        self, model: LoadedModel, tensors: Sequence[NamedTensor]
    ) -> list[NamedTensor]:
        by_name = {t.name: t for t in tensors}
        if len(by_name) != len(tensors):
            raise InvalidRequest("an input tensor name appears twice")
        return ordered(by_name, model.input_names)

    def _checked_inputs(
        self, model: LoadedModel, tensors: Sequence[NamedTensor]
    ) -> list[NamedTensor]:
        """Inputs for a proof that no inference checks first (inference checks its own)."""
        inputs = self._ordered_inputs(model, tensors)
        model.check_inputs(inputs)
        return inputs

    def _enqueue_proof(
        self,
        record: ModelRecord,
        inputs: Sequence[NamedTensor],
        input_digest: str,
        tenant: Tenant,
    ) -> Job:
        witness_digest = self._store.put_bytes(witness_input_json(inputs))
        payload: dict[str, object] = {
            "commitment": record.commitment,
            "input_digest": input_digest,
            "witness_input_digest": witness_digest,
        }
        batch_key = None
        assert record.card_json is not None
        card = ModelCard.from_json(record.card_json)
        # The measured peak of a proof of the circuit the job uses: only a prover that can hold
        # it claims the job, and none live that can raises NoProverCanHold here.
        memory_bytes = card.prove_peak_rss_bytes
        if card.batch is not None:
            # Requests of every tenant share batches: the proof shows each entry only hashed.
            payload["batch_size"] = card.batch.size
            batch_key = f"{record.name}:{record.commitment}"
            memory_bytes = card.batch.prove_peak_rss_bytes
        # Idempotent: the same model and input always map to one job and one proof, per
        # tenant: two tenants never share a job, so neither learns what the other asked.
        job, _ = self._queue.enqueue(
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

    # -- jobs -------------------------------------------------------------------------------

    def job_counts(self) -> dict[JobState, int]:
        return self._queue.counts()

    def job_status(self, job_id: str, tenant: Tenant = ANONYMOUS) -> JobStatus:
        try:
            job = self._queue.get(job_id)
        except JobNotFound:
            raise NotFound(f"no job {quote(job_id)}") from None
        if job.tenant != tenant.name:
            raise PermissionDenied(f"job {job_id} belongs to another tenant")
        proof = None
        if job.state == JobState.SUCCEEDED and job.result and "proof_digest" in job.result:
            proof = self._store.read_bytes(job.result["proof_digest"])
        return JobStatus(job=job, proof=proof)


def _found(read: Callable[[str], ModelRecord], name: str) -> ModelRecord:
    try:
        return read(name)
    except ModelNotFound:
        raise NotFound(f"no model named {quote(name)}; `zkgate models list` shows them") from None
