"""Job handlers: what a prover worker does with a register or prove job.

Errors are sorted here for the queue: what retrying cannot change (a RegistrationError, a
model whose proof no live prover can hold, a ProvingError, a model replaced since the job was
enqueued) becomes DeterministicJobError; anything else is left to propagate, and the worker
retries it while attempts remain.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from zkgate.core.card import LEARNING_REPORT_ARTIFACT, ModelCard
from zkgate.core.fidelity_target import parse_fidelity_target, parse_tuning_effort
from zkgate.core.job_stages import JobStage
from zkgate.prover.artifacts.store import ArtifactCorrupt, ArtifactStore
from zkgate.prover.circuits.ezkl_calls import ProvingError
from zkgate.prover.circuits.proving import PROVING_ARTIFACTS, prove, prove_batch
from zkgate.prover.circuits.registration import register_model
from zkgate.prover.circuits.registration_checks import RegistrationError, load_calibration
from zkgate.prover.circuits.srs_files import CeremonySrs
from zkgate.prover.circuits.srs_source import SrsSource
from zkgate.prover.circuits.stage_timing import reporting_stages, stage
from zkgate.prover.data_directory import DataLayout
from zkgate.prover.queue.catalog import ModelCatalog, ModelNotFound, StaleRegistration
from zkgate.prover.queue.jobs import Job, JobKind, LeaseLost
from zkgate.prover.queue.learning_ledger import LearningLedger, LearningRejection
from zkgate.prover.queue.provers import NoProverCanHold, ProverDirectory
from zkgate.prover.queue.sql_job_queue import SqlJobQueue
from zkgate.prover.worker.learning_check import LearningTerms, check_proof_of_learning
from zkgate.prover.worker.loop import BatchHandler, DeterministicJobError, JobHandler
from zkgate.prover.worker.stage_reports import StageReports


def make_handlers(
    layout: DataLayout,
    store: ArtifactStore,
    catalog: ModelCatalog,
    srs_source: SrsSource,
    *,
    standby_memory_budget: int | None = None,
) -> dict[JobKind, JobHandler]:
    """standby_memory_budget: the largest budget of provers scaled to zero, which a registered
    model's proof may need although no live prover advertises it (queue/provers.py)."""
    handlers = _Handlers(layout, store, catalog, srs_source, standby_memory_budget)
    return {JobKind.REGISTER: handlers.register, JobKind.PROVE: handlers.prove}


def make_batch_handler(
    layout: DataLayout, store: ArtifactStore, catalog: ModelCatalog, srs_source: SrsSource
) -> BatchHandler:
    return _Handlers(layout, store, catalog, srs_source).prove_batch


class _Handlers:
    def __init__(
        self,
        layout: DataLayout,
        store: ArtifactStore,
        catalog: ModelCatalog,
        srs: SrsSource,
        standby_memory_budget: int | None = None,
    ) -> None:
        self._layout = layout
        self._store = store
        self._catalog = catalog
        self._ledger = LearningLedger(catalog.database)
        self._provers = ProverDirectory(catalog.database, standby_budget=standby_memory_budget)
        self._queue = SqlJobQueue(catalog.database)
        self._srs = srs

    def register(self, job: Job) -> dict[str, Any]:
        """Payload: onnx_digest, calibration_digest (a .npy or .npz artifact), max_logrows,
        param_visibility, srs_path and srs_sha256 (empty for a development SRS), batch_size,
        fidelity and tuning (see zkgate.core.fidelity_target); with a proof-of-learning, also
        learning_archive_digest, trusted_intent_issuers (hex keys), learning_replay (the least to
        replay) and learning_policy_json (the policy the gateway kept with the intent, when it
        issued it)."""
        stages = StageReports(self._queue, [job])
        try:
            with reporting_stages(stages):
                card = self._register(job)
            # A model whose measured proof no live prover can hold would only fail its proofs.
            self._provers.check_card(card, now=time.time())
        except LeaseLost:
            # Cancelled, or taken over by another worker: the job's outcome is no longer ours.
            raise
        except (RegistrationError, NoProverCanHold) as exc:
            self._catalog.mark_failed(job.model_name, str(exc), job_id=job.id)
            raise DeterministicJobError(str(exc)) from exc
        except Exception as exc:
            if job.attempts >= job.max_attempts:
                # No retry will follow: the model must not stay "registering" forever.
                self._catalog.mark_failed(
                    job.model_name, f"{type(exc).__name__}: {exc}", job_id=job.id
                )
            raise
        # A registration cancelled meanwhile leaves its version as the gateway marked it.
        self._queue.confirm_held(job.id, job.lease_owner or "")
        try:
            self._catalog.mark_ready(
                job.model_name, commitment=card.commitment, card_json=card.to_json(), job_id=job.id
            )
        except StaleRegistration as exc:
            raise DeterministicJobError(str(exc)) from exc
        return {"commitment": card.commitment, "stage_seconds": stages.seconds()}

    def _register(self, job: Job) -> ModelCard:
        payload = job.payload
        onnx_digest = payload["onnx_digest"]
        with self._scratch(job) as scratch, self._store.local_file(onnx_digest) as onnx_path:
            card = register_model(
                job.model_name,
                onnx_path=onnx_path,
                calibration=load_calibration(self._store.read_bytes(payload["calibration_digest"])),
                store=self._store,
                srs_source=self._srs,
                scratch=scratch,
                max_logrows=int(payload["max_logrows"]),
                param_visibility=payload["param_visibility"],
                ceremony=_ceremony(payload),
                batch_size=int(payload.get("batch_size", 1)),
                scale=payload.get("scale"),
                fidelity_target=parse_fidelity_target(payload.get("fidelity", "")),
                tuning=parse_tuning_effort(payload.get("tuning", "")),
            )
            if "learning_archive_digest" not in payload:
                return card
            return self._with_learning(job, card, scratch / "learning")

    def _with_learning(self, job: Job, card: ModelCard, scratch: Path) -> ModelCard:
        """The card plus the verdict on the proof-of-learning, checked against the ONNX that the
        card's circuit was built from, and the count of this owner's proofs for this ONNX file
        (under any name) rejected before (a rejection is recorded for the next one to count)."""
        payload = job.payload
        verdict = check_proof_of_learning(
            self._store.read_bytes(payload["learning_archive_digest"]),
            onnx=self._store.read_bytes(payload["onnx_digest"]),
            terms=LearningTerms.from_payload(payload),
            scratch=scratch,
        )
        report_digest = self._store.put_bytes(verdict.report_json.encode("utf-8"))
        summary = verdict.summary
        earlier = self._ledger.rejection_count(
            payload["onnx_digest"], summary.owner_public_key, excluding_job=job.id
        )
        if not summary.accepted:
            self._ledger.record_rejection(
                LearningRejection(
                    job_id=job.id,
                    model_name=job.model_name,
                    onnx_digest=payload["onnx_digest"],
                    owner_public_key=summary.owner_public_key,
                    manifest_digest=summary.manifest_digest,
                    report_digest=report_digest,
                    reason=summary.reasons[0] if summary.reasons else "",
                    rejected_at=time.time(),
                )
            )
        return dataclasses.replace(
            card,
            artifacts={**card.artifacts, LEARNING_REPORT_ARTIFACT: report_digest},
            proof_of_learning=dataclasses.replace(summary, rejected_before=earlier),
        )

    def prove(self, job: Job) -> dict[str, Any]:
        """Payload: commitment, input_digest, witness_input_digest (witness_input_json bytes)."""
        payload = job.payload
        card = self._card(job.model_name, payload["commitment"])
        witness_input = self._store.read_bytes(payload["witness_input_digest"])
        with reporting_stages(StageReports(self._queue, [job])):
            with self._proving(job, card.artifacts) as (scratch, local):
                proof = prove(card, local, witness_input=witness_input, scratch=scratch)
            with stage(job.model_name, JobStage.STORING):
                return {"proof_digest": self._store.put_bytes(proof)}

    def prove_batch(self, jobs: Sequence[Job]) -> list[dict[str, Any]]:
        """Prove jobs of one batch key (see loop.py) in one proof of the model's batch
        circuit. Each job's result names the shared proof, its own entry and its own proven
        outputs, and nothing of the other entries."""
        first = jobs[0]
        card = self._card(first.model_name, first.payload["commitment"])
        if card.batch is None:
            raise DeterministicJobError(f"model {card.name!r} has no batch circuit")
        witness_inputs = [self._store.read_bytes(j.payload["witness_input_digest"]) for j in jobs]
        with reporting_stages(StageReports(self._queue, jobs)):
            with self._proving(first, card.batch.artifacts) as (scratch, local):
                batch = prove_batch(card, local, witness_inputs=witness_inputs, scratch=scratch)
            with stage(first.model_name, JobStage.STORING):
                proof_digest = self._store.put_bytes(batch.proof)
        return [
            {
                "proof_digest": proof_digest,
                "batch_index": index,
                "batch_size": card.batch.size,
                "batch_outputs": outputs,
            }
            for index, outputs in enumerate(batch.entry_outputs)
        ]

    def _card(self, name: str, commitment: str) -> ModelCard:
        """The card of the model version the job was enqueued for, found by its commitment
        (a version id): a newer version has other keys, and a proof under them would not be
        the one the requester expects."""
        try:
            record = self._catalog.get(name, commitment)
        except ModelNotFound as exc:
            raise DeterministicJobError(
                f"model {name!r} has no version {commitment} (the job's): it was removed after "
                "the proof was requested"
            ) from exc
        if record.card_json is None:
            raise DeterministicJobError(f"model {name!r} version {record.version} has no card")
        return ModelCard.from_json(record.card_json)

    @contextmanager
    def _proving(
        self, job: Job, artifacts: Mapping[str, str]
    ) -> Iterator[tuple[Path, dict[str, Path]]]:
        """(scratch directory, the circuit's artifacts as local files) for proving; a damaged
        artifact, or a ProvingError raised within, is deterministic."""
        with self._scratch(job) as scratch:
            try:
                with self._store.local_files(artifacts, PROVING_ARTIFACTS) as local:
                    yield scratch, local
            except (ArtifactCorrupt, ProvingError) as exc:
                raise DeterministicJobError(str(exc)) from exc

    @contextmanager
    def _scratch(self, job: Job) -> Iterator[Path]:
        self._layout.scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(
            dir=self._layout.scratch, prefix=f"{job.kind}-{job.id}-"
        ) as directory:
            yield Path(directory)


def _ceremony(payload: dict[str, Any]) -> CeremonySrs | None:
    path = payload.get("srs_path") or ""
    if not path:
        return None
    return CeremonySrs(path=Path(path), sha256=payload.get("srs_sha256") or "")
