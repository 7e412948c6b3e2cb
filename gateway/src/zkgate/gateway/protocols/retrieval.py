"""The responder's side of trustless retrieval: commit to datasets, key predicates, answer, prove.

Datasets and retrievals are content-addressed records (content_records). A dataset is public to
every tenant once an admin committed it; a retrieval belongs to the tenant that opened it. A
predicate is a model the requesting tenant registers for itself, calibrated on the dataset it
will run over, under a name derived from tenant, ONNX and dataset (predicate_names): asking
again reuses it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.array_rows import RowsError, save_npy
from zkgate.core.attestations import AttestationError
from zkgate.core.card import ModelCard
from zkgate.core.dataset import Dataset
from zkgate.core.fidelity_target import TuningEffort
from zkgate.core.merkle import inclusion_proof
from zkgate.core.protocols.accuracy import predicted_class
from zkgate.core.protocols.limits import MAX_RETRIEVAL_PROOFS
from zkgate.core.protocols.predicate import HOLDS, check_predicate_scale
from zkgate.core.protocols.retrieval import (
    DatasetStatement,
    RetrievalFormatError,
    RetrievalRequest,
    RetrievalResult,
    RetrievalStatement,
    RetrievedRecord,
    issue_dataset_statement,
    issue_retrieval_statement,
    retrieval_sample,
)
from zkgate.core.signing import raw_public_key
from zkgate.core.tensors import NamedTensor
from zkgate.gateway.access_control import PermissionDenied, Tenant
from zkgate.gateway.errors import InvalidRequest, NotReady
from zkgate.gateway.predicate_names import predicate_name
from zkgate.gateway.protocols.content_records import put_record, read_record
from zkgate.gateway.protocols.proof_jobs import ProofJobs, proof_jobs
from zkgate.gateway.service import GatewayService, Registration
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.circuits.registration_checks import DEFAULT_PARAM_VISIBILITY
from zkgate.prover.queue.catalog import ProofPolicy

_DATASET_FORMAT = "zkgate.dataset/1"
_RETRIEVAL_FORMAT = "zkgate.retrieval/1"
# Calibration fixes the predicate's fixed-point scales; this many records cover the range of a
# dataset well enough, and keying time does not grow with the dataset.
_CALIBRATION_RECORDS = 32


@dataclass(frozen=True)
class CommittedDataset:
    """A stored dataset's statement, and where its records are: they are read only by the
    calls that run over them, not by those that hand out the statement."""

    dataset_id: str
    statement: DatasetStatement
    records_digest: str


@dataclass(frozen=True)
class RetrievalProgress:
    retrieval_id: str
    jobs: ProofJobs
    # Set once every returned record is proven.
    result: RetrievalResult | None


class RetrievalResponder:
    def __init__(
        self, service: GatewayService, key: Ed25519PrivateKey, store: ArtifactStore
    ) -> None:
        self._service = service
        self._key = key
        self._store = store

    def commit_dataset(self, name: str, records: bytes, tenant: Tenant) -> CommittedDataset:
        """Admin only: the dataset is the provider's, served to every tenant."""
        if not tenant.admin:
            raise PermissionDenied(
                f"tenant {tenant.name!r} may not commit datasets: that takes an admin key"
            )
        if not name:
            raise InvalidRequest("name the dataset")
        try:
            dataset = Dataset.from_npy(records)
        except RowsError as exc:
            raise InvalidRequest(f"dataset refused: {exc}") from exc
        statement = issue_dataset_statement(
            self._key, name, dataset, now_ms=time.time_ns() // 1_000_000
        )
        records_digest = self._store.put_bytes(dataset.to_npy())
        dataset_id = put_record(
            self._store,
            {
                "format": _DATASET_FORMAT,
                "statement": statement.to_json(),
                "records_digest": records_digest,
            },
        )
        return CommittedDataset(dataset_id, statement, records_digest)

    def dataset(self, dataset_id: str) -> CommittedDataset:
        record = read_record(self._store, dataset_id, record_format=_DATASET_FORMAT, what="dataset")
        return CommittedDataset(
            dataset_id=dataset_id,
            statement=DatasetStatement.from_json(record["statement"]),
            records_digest=str(record["records_digest"]),
        )

    def _records(self, dataset_id: str) -> tuple[DatasetStatement, Dataset]:
        committed = self.dataset(dataset_id)
        records = Dataset.from_npy(self._store.read_bytes(committed.records_digest))
        return committed.statement, records

    def register_predicate(
        self, dataset_id: str, onnx: bytes, scale: int, tenant: Tenant
    ) -> Registration:
        """Registers the predicate for this tenant, or returns the registration it already has.
        The scale the requester asked for names the predicate too: asked at another scale, it
        is another circuit."""
        try:
            check_predicate_scale(scale)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from exc
        name = predicate_name(tenant, onnx, dataset_id, scale)
        existing = self._service.registration_of(name, tenant)
        if existing is not None:
            return existing
        _, dataset = self._records(dataset_id)
        return self._service.register_model(
            name,
            onnx=onnx,
            calibration=save_npy(dataset.records[:_CALIBRATION_RECORDS]),
            policy=ProofPolicy.ON_REQUEST,
            max_logrows=None,
            param_visibility=DEFAULT_PARAM_VISIBILITY,
            srs_path="",
            srs_sha256="",
            tenant=tenant,
            admin_only=False,
            scale=scale,
            # The requester fixed the scale, which is all a predicate's circuit is held to.
            tuning=TuningEffort.NONE.value,
        )

    def open(
        self,
        dataset_id: str,
        request: RetrievalRequest,
        tenant: Tenant,
    ) -> RetrievalStatement:
        """Runs the predicate over every record and signs which ones match, before the
        requester reveals its nonce. `request` names the dataset by root and size; they must be
        the ones `dataset_id` holds."""
        try:
            request.check()
        except RetrievalFormatError as exc:
            raise InvalidRequest(f"retrieval refused: {exc}") from exc
        statement, dataset = self._records(dataset_id)
        if (request.dataset_root, request.dataset_size) != (statement.root, statement.size):
            raise InvalidRequest(
                f"retrieval refused: dataset {dataset_id} is root {statement.root} of "
                f"{statement.size} records, not {request.dataset_root} of {request.dataset_size}"
            )
        card = self._served_predicate(request.predicate_model, request.predicate_commitment)
        if card.inputs[0].shape != statement.shape():
            raise InvalidRequest(
                f"retrieval refused: the predicate takes {card.inputs[0].shape}, the dataset's "
                f"records are shaped {statement.shape()}"
            )
        if len(card.outputs) != 1 or _size(card.outputs[0].shape) != 2:
            raise InvalidRequest(
                "retrieval refused: a predicate is a two-way classifier with one output of two "
                f"values (class {HOLDS} means it holds); this one outputs "
                f"{[spec.shape for spec in card.outputs]}"
            )
        _, model = self._service.loaded_model(request.predicate_model)
        input_name = card.inputs[0].name
        matches = [
            index
            for index, record in enumerate(dataset.records)
            if predicted_class(model.run([_tensor(input_name, record)])[0].array) == HOLDS
        ]
        answer = issue_retrieval_statement(
            self._key, request, matches, now_ms=time.time_ns() // 1_000_000
        )
        limit = min(MAX_RETRIEVAL_PROOFS, tenant.max_queued_jobs or MAX_RETRIEVAL_PROOFS)
        if answer.proof_count() > limit:
            raise InvalidRequest(
                f"retrieval refused: {len(matches)} records match and {answer.proof_count()} "
                f"proofs would be needed, more than the {limit} tenant {tenant.name!r} may have; "
                "narrow the predicate or sample fewer left-out records"
            )
        return answer

    def reveal(
        self, dataset_id: str, statement_json: str, client_nonce_hex: str, tenant: Tenant
    ) -> RetrievalProgress:
        """Draws the left-out sample from the signed answer and the nonce, and queues a proof
        for every match and every drawn record."""
        statement = self._own_statement(statement_json)
        committed, dataset = self._records(dataset_id)
        if statement.dataset_root != committed.root:
            raise InvalidRequest(
                f"reveal refused: the answer is over dataset root {statement.dataset_root}, "
                f"dataset {dataset_id} has root {committed.root}"
            )
        try:
            sample = retrieval_sample(statement, bytes.fromhex(client_nonce_hex))
        except (RetrievalFormatError, ValueError) as exc:
            raise InvalidRequest(f"reveal refused: {exc}") from exc
        card = self._served_predicate(statement.predicate_model, statement.predicate_commitment)
        input_name = card.inputs[0].name
        roles = [(i, True) for i in statement.match_indices()] + [(i, False) for i in sample]
        entries = [
            {
                "index": index,
                "matched": matched,
                "job_id": self._service.prove_inputs(
                    statement.predicate_model,
                    [_tensor(input_name, dataset.records[index])],
                    tenant,
                ).id,
            }
            for index, matched in roles
        ]
        retrieval_id = put_record(
            self._store,
            {
                "format": _RETRIEVAL_FORMAT,
                "tenant": tenant.name,
                "dataset_id": dataset_id,
                "statement": statement_json,
                "client_nonce": client_nonce_hex,
                "entries": entries,
            },
        )
        return self.progress(retrieval_id, tenant)

    def progress(self, retrieval_id: str, tenant: Tenant) -> RetrievalProgress:
        record = read_record(
            self._store, retrieval_id, record_format=_RETRIEVAL_FORMAT, what="retrieval"
        )
        if record["tenant"] != tenant.name:
            raise PermissionDenied(f"retrieval {retrieval_id} belongs to another tenant")
        jobs = proof_jobs(self._service, record["entries"], tenant)
        return RetrievalProgress(
            retrieval_id=retrieval_id,
            jobs=jobs,
            result=self._result(record, jobs) if jobs.complete else None,
        )

    def _result(self, record: dict[str, Any], jobs: ProofJobs) -> RetrievalResult:
        """The records with their inclusion paths, assembled once, when every proof is in."""
        _, dataset = self._records(str(record["dataset_id"]))
        leaves = dataset.leaves()
        records = []
        for position, entry in enumerate(record["entries"]):
            index = int(entry["index"])
            records.append(
                RetrievedRecord(
                    index=index,
                    matched=bool(entry["matched"]),
                    data=dataset.records[index].astype("<f4").tobytes().hex(),
                    path=[node.hex() for node in inclusion_proof(leaves, index).path],
                    proof_digest=jobs.proven[position].proof_digest,
                )
            )
        return RetrievalResult(
            statement=RetrievalStatement.from_json(record["statement"]),
            client_nonce=str(record["client_nonce"]),
            records=records,
            proofs=jobs.proofs_by_digest(),
        )

    def _served_predicate(self, model: str, commitment: str) -> ModelCard:
        record = self._service.ready_model(model)
        assert record.card_json is not None
        if record.commitment != commitment:
            raise NotReady(
                f"predicate {model!r} serves commitment {record.commitment}, not {commitment}"
            )
        return ModelCard.from_json(record.card_json)

    def _own_statement(self, statement_json: str) -> RetrievalStatement:
        try:
            statement = RetrievalStatement.from_json(statement_json)
            statement.verify_issued_by(raw_public_key(self._key))
        except AttestationError as exc:
            raise InvalidRequest(
                f"reveal refused: {exc}; open the retrieval on this gateway first"
            ) from exc
        return statement


def _tensor(input_name: str, record: npt.NDArray[np.float32]) -> NamedTensor:
    return NamedTensor(name=input_name, datatype="FP32", array=record)


def _size(shape: list[int]) -> int:
    return int(np.prod(shape))
