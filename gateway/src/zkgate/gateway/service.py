"""The gateway's base service: register models, serve predictions, sign receipts, hand proof
work to provers.

Nothing here knows about gRPC; the servicers decode requests into these calls and encode the
results. Inference never waits on proving: a proof is a row in the durable job queue, and the
caller gets the job id at once. The protocols (gateway/protocols: learning, contests, accuracy,
retrieval) are built on this service and never called by it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from zkgate.core.bundle import VerifierBundle
from zkgate.core.card import ModelCard
from zkgate.core.documents import quote
from zkgate.core.receipts import Receipt, ReceiptError
from zkgate.core.tensors import NamedTensor, tensors_digest
from zkgate.gateway.access_control import ANONYMOUS, PermissionDenied, Tenant
from zkgate.gateway.circuit_request import checked_circuit_request
from zkgate.gateway.errors import InvalidRequest, NotFound, NotReady, ProofsDisabled
from zkgate.gateway.model_runtime import LoadedModel, ModelRuntime
from zkgate.gateway.predicate_names import (
    PREDICATE_PREFIX,
    check_registrant,
    tenant_predicate_prefix,
)
from zkgate.gateway.proof_enqueueing import enqueue_proof
from zkgate.gateway.ready_model_cache import ReadyModels
from zkgate.gateway.receipt_signer import ReceiptSigner
from zkgate.gateway.served_rows import InferenceResult, receipted_rows
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.queue.artifact_sweep import SweepReport, sweep_removed_artifacts
from zkgate.prover.queue.catalog import (
    ModelCatalog,
    ModelNotFound,
    ModelRecord,
    ModelState,
    ProofPolicy,
    VersionNotFound,
    VersionNotReady,
)
from zkgate.prover.queue.jobs import Job, JobKind, JobNotFound, JobQueue, JobState
from zkgate.prover.queue.version_removal import Removal, remove_versions


@dataclass(frozen=True)
class Registration:
    model: ModelRecord
    job: Job


@dataclass(frozen=True)
class ModelRemoval:
    removal: Removal
    sweep: SweepReport


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
        max_batch_rows: int,
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
        self._runtime = ModelRuntime(store, max_batch_rows)
        self._enqueue = partial(enqueue_proof, queue, store)
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
        retry_failed: bool = True,
    ) -> Registration:
        """`proof_of_learning`: an archive for the prover to verify against `onnx`; empty for
        none. `batch_size` above 1 also builds a batch circuit (cross-request batching). Only
        admin tenants register models to serve everyone; `admin_only=False` is for circuits a
        tenant brings for itself (a retrieval predicate), and the job counts against its quota.
        `scale` fixes the circuit's fixed-point scale (input and parameters) instead of letting
        calibration choose it: a retrieval requester decides what the circuit is held to.
        `fidelity` and `tuning` (empty for the defaults) set the circuit search (see
        zkgate.core.fidelity_target). Registering a name again with anything different makes a
        new version; the same registration again raises ModelExists, even after it failed
        unless `retry_failed`."""
        check_registrant(name, tenant, admin_only=admin_only)
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
            name,
            policy or self._default_policy,
            onnx,
            calibration,
            {**circuit, **learning},
            tenant,
            retry_failed=retry_failed,
        )

    def _queue_registration(
        self,
        name: str,
        policy: ProofPolicy,
        onnx: bytes,
        calibration: bytes,
        settings: dict[str, object],
        tenant: Tenant,
        *,
        retry_failed: bool = True,
    ) -> Registration:
        """Stores the uploads, lists the model as registering and queues the job that builds it."""
        onnx_digest = self._store.put_bytes(onnx)
        calibration_digest = self._store.put_bytes(calibration)
        record = self._catalog.create(
            name,
            policy=policy,
            onnx_digest=onnx_digest,
            calibration_digest=calibration_digest,
            settings=settings,
            retry_failed=retry_failed,
        )
        job, _ = self._queue.enqueue(
            JobKind.REGISTER,
            name,
            {"onnx_digest": onnx_digest, "calibration_digest": calibration_digest, **settings},
            max_attempts=2,
            tenant=tenant.name,
            tenant_quota=tenant.max_queued_jobs,
        )
        self._catalog.attach_job(name, job.id, version=record.version)
        return Registration(model=self._catalog.get(name, str(record.version)), job=job)

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
        """Every version of every served model, and of the retrieval predicates only the
        tenant's own: a predicate is a tenant's query, and its card names the hash of its
        ONNX."""
        own = tenant_predicate_prefix(tenant)
        return [
            record
            for record in self._catalog.list()
            if not record.name.startswith(PREDICATE_PREFIX) or record.name.startswith(own)
        ]

    def get_model(self, name: str, version: str = "") -> ModelRecord:
        """`version`: a number or commitment; empty for the default version."""
        return _found(self._catalog.get, name, version)

    def model_versions(self, name: str) -> list[ModelRecord]:
        """The model's versions, oldest first."""
        return self._catalog.versions(name)

    def ready_model(self, name: str, version: str = "") -> ModelRecord:
        """The record requests are served from: kept in memory once ready (see
        ready_model_cache)."""
        record = _found(self._ready_models.get, name, version)
        label = f"model {name!r} version {record.version}"
        if record.state == ModelState.REGISTERING:
            raise NotReady(
                f"{label} is still registering (job {record.registration_job_id}); "
                "retry once it is ready"
            )
        if record.state == ModelState.FAILED or record.commitment is None:
            raise NotReady(f"{label} failed to register: {record.error}")
        return record

    def remove_model(self, name: str, version: str, tenant: Tenant = ANONYMOUS) -> ModelRemoval:
        """Removes one version (number or commitment) or, with version empty, the whole model,
        then sweeps the artifacts nothing uses any more (see queue/artifact_sweep.py)."""
        check_registrant(name, tenant, admin_only=True)
        try:
            removal = remove_versions(self._catalog.database, name, version)
        except ModelNotFound as exc:
            raise NotFound(str(exc)) from None
        finally:
            self._ready_models.forget(name)
        return ModelRemoval(removal=removal, sweep=self.sweep_artifacts())

    def set_default_version(
        self, name: str, version: str, tenant: Tenant = ANONYMOUS
    ) -> ModelRecord:
        """Pins the version served to requests that name none."""
        check_registrant(name, tenant, admin_only=True)
        try:
            return self._catalog.set_default(name, version)
        except ModelNotFound as exc:
            raise NotFound(str(exc)) from None
        except VersionNotReady as exc:
            raise NotReady(str(exc)) from None
        finally:
            self._ready_models.forget(name)

    def sweep_artifacts(self) -> SweepReport:
        """Deletes what removed versions left that nothing else uses, and drops this gateway's
        sessions of versions no longer live (removed here or by another replica); safe to call
        any time."""
        self._runtime.retain({r.commitment for r in self._catalog.list() if r.commitment})
        return sweep_removed_artifacts(self._catalog.database, self._store)

    def loaded_model(self, name: str, version: str = "") -> tuple[ModelRecord, LoadedModel]:
        """`version`: a number or commitment; empty for the default version."""
        record = self.ready_model(name, version)
        assert record.commitment is not None and record.card_json is not None
        return record, self._runtime.get(record.commitment, record.card_json)

    def verifier_bundle(
        self, name: str, *, batch: bool = False, version: str = ""
    ) -> VerifierBundle:
        """The bundle of a model version (empty: the default), or with batch its batch
        circuit's (same card)."""
        record = self.ready_model(name, version)
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
        version: str = "",
    ) -> InferenceResult:
        record, model = self.loaded_model(name, version)
        assert record.commitment is not None
        if prove and record.policy == ProofPolicy.NEVER:
            raise ProofsDisabled(f"model {name!r} has proof policy 'never'")
        inputs = model.ordered_inputs(tensors)
        count = model.check_inputs(inputs)
        outputs = model.run(inputs)
        request_id = request_id or uuid.uuid4().hex
        rows = receipted_rows(
            self._signer, record, inputs, outputs, rows=count, request_id=request_id
        )
        wanted = prove or record.policy == ProofPolicy.ALWAYS
        return InferenceResult(
            model=record, card=model.card, outputs=outputs, rows=rows, proof_wanted=wanted
        )

    def enqueue_proofs(self, result: InferenceResult, tenant: Tenant = ANONYMOUS) -> list[Job]:
        """The durable proof job of each row of an inference; a separate step because it writes
        to disk (milliseconds), which an async caller keeps off its event loop, while inference
        itself takes microseconds. Rows of a model with a batch circuit share its proofs."""
        return [
            self._enqueue(
                result.model, result.card, row.inputs, row.receipt.body.input_digest, tenant
            )
            for row in result.rows
        ]

    def request_proof(
        self, receipt_json: str, tensors: Sequence[NamedTensor], tenant: Tenant = ANONYMOUS
    ) -> Job:
        """Proof for a past receipt: the receipt must be ours and the inputs must be its inputs."""
        try:
            receipt = Receipt.from_json(receipt_json)
            receipt.verify_signature(self._signer.public_key)
        except ReceiptError as exc:
            raise InvalidRequest(f"receipt rejected: {exc}") from exc
        # The receipt's version, which need not be the one served by default now.
        record, model = self.loaded_model(receipt.body.model, receipt.body.commitment)
        if record.policy == ProofPolicy.NEVER:
            raise ProofsDisabled(f"model {record.name!r} has proof policy 'never'")
        inputs = model.one_row_inputs(tensors)
        input_digest = tensors_digest(inputs)
        if input_digest != receipt.body.input_digest:
            raise InvalidRequest(
                "the inputs sent do not match the receipt's input digest; send the exact tensors "
                "of the original request"
            )
        return self._enqueue(record, model.card, inputs, input_digest, tenant)

    def prove_inputs(
        self, name: str, tensors: Sequence[NamedTensor], tenant: Tenant = ANONYMOUS
    ) -> Job:
        """A proof of the model on inputs nobody was served (an accuracy evaluation's examples):
        no receipt, otherwise the same job, batched and idempotent, as any other."""
        record, model = self.loaded_model(name)
        if record.policy == ProofPolicy.NEVER:
            raise ProofsDisabled(f"model {name!r} has proof policy 'never'")
        inputs = model.one_row_inputs(tensors)
        return self._enqueue(record, model.card, inputs, tensors_digest(inputs), tenant)

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


def _found(read: Callable[[str, str], ModelRecord], name: str, version: str) -> ModelRecord:
    try:
        return read(name, version)
    except VersionNotFound as exc:
        raise NotFound(str(exc)) from None
    except ModelNotFound:
        raise NotFound(f"no model named {quote(name)}; `zkgate models list` shows them") from None
