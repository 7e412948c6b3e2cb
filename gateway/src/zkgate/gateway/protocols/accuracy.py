"""The gateway's side of verified accuracy: sign the evaluation, prove the sample, certify.

The reveal is stored as one content-addressed record (statement, nonce, sampled positions,
labels and job ids; see content_records), whose digest is the evaluation's id; a repeated reveal
maps to the same record and, through the jobs' idempotency keys, the same jobs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.attestations import AttestationError
from zkgate.core.card import ModelCard
from zkgate.core.held_out_set import TestSet, TestSetError
from zkgate.core.instances import dequantize
from zkgate.core.protocols.accuracy import (
    AccuracyCertificate,
    AccuracyFormatError,
    AccuracyRequest,
    AccuracyStatement,
    CertificateEntry,
    accuracy_sample,
    issue_accuracy_statement,
    predicted_class,
)
from zkgate.core.signing import raw_public_key
from zkgate.gateway.access_control import PermissionDenied, Tenant
from zkgate.gateway.errors import InvalidRequest, NotReady
from zkgate.gateway.protocols.content_records import put_record, read_record
from zkgate.gateway.protocols.proof_jobs import ProofJobs, ProvenJob, proof_jobs
from zkgate.gateway.service import GatewayService
from zkgate.prover.artifacts.store import ArtifactStore

_EVALUATION_FORMAT = "zkgate.evaluation/1"


@dataclass(frozen=True)
class EvaluationProgress:
    evaluation_id: str
    jobs: ProofJobs
    # Set once every sampled example is proven.
    certificate: AccuracyCertificate | None


class AccuracyEvaluator:
    def __init__(
        self, service: GatewayService, key: Ed25519PrivateKey, store: ArtifactStore
    ) -> None:
        self._service = service
        self._key = key
        self._store = store

    def open(self, request: AccuracyRequest, tenant: Tenant) -> AccuracyStatement:
        """Refuses what the gateway could not honour: a model without a hashed-input circuit,
        a commitment it does not serve, a sample larger than the tenant may queue."""
        try:
            request.check()
        except AccuracyFormatError as exc:
            raise InvalidRequest(f"evaluation refused: {exc}") from exc
        self._served_card(request.model, request.commitment, request.batch_commitment)
        if tenant.max_queued_jobs and request.sample_size > tenant.max_queued_jobs:
            raise InvalidRequest(
                f"evaluation refused: a sample of {request.sample_size} needs as many proof "
                f"jobs, and tenant {tenant.name!r} may queue {tenant.max_queued_jobs}; ask for "
                "a larger quota or a smaller sample (a larger epsilon)"
            )
        return issue_accuracy_statement(self._key, request, now_ms=time.time_ns() // 1_000_000)

    def reveal(
        self, statement_json: str, client_nonce_hex: str, test_set: TestSet, tenant: Tenant
    ) -> EvaluationProgress:
        statement = self._own_statement(statement_json)
        try:
            sample = accuracy_sample(statement, bytes.fromhex(client_nonce_hex))
        except (AccuracyFormatError, ValueError) as exc:
            raise InvalidRequest(f"reveal refused: {exc}") from exc
        held = test_set.commitment()
        if (held, len(test_set)) != (statement.test_set_commitment, statement.test_set_size):
            raise InvalidRequest(
                f"reveal refused: the test set sent hashes to {held} ({len(test_set)} "
                f"examples), the statement commits to {statement.test_set_commitment} "
                f"({statement.test_set_size}); send the exact arrays you committed to"
            )
        card = self._served_card(statement.model, statement.commitment, statement.batch_commitment)
        spec = card.inputs[0]
        if list(test_set.examples.shape[1:]) != spec.shape:
            raise InvalidRequest(
                f"reveal refused: examples are shaped {list(test_set.examples.shape[1:])}, "
                f"model {statement.model!r} takes {spec.name!r} shaped {spec.shape}"
            )
        jobs = [
            self._service.prove_inputs(
                statement.model, [test_set.example_tensor(index, spec.name)], tenant
            )
            for index in sample
        ]
        record = {
            "format": _EVALUATION_FORMAT,
            "tenant": tenant.name,
            "statement": statement_json,
            "client_nonce": client_nonce_hex,
            "entries": [
                {"test_index": index, "label": int(test_set.labels[index]), "job_id": job.id}
                for index, job in zip(sample, jobs, strict=True)
            ],
        }
        evaluation_id = put_record(self._store, record)
        return self.progress(evaluation_id, tenant)

    def progress(self, evaluation_id: str, tenant: Tenant) -> EvaluationProgress:
        record = self._record(evaluation_id, tenant)
        statement = AccuracyStatement.from_json(record["statement"])
        card = self._served_card(statement.model, statement.commitment, statement.batch_commitment)
        assert card.batch is not None  # _served_card saw to it
        jobs = proof_jobs(self._service, record["entries"], tenant)
        entries = [
            _certificate_entry(record["entries"][position], job, card.batch.output_scale)
            for position, job in jobs.proven.items()
        ]
        certificate = None
        if jobs.complete:
            certificate = AccuracyCertificate(
                statement=statement,
                client_nonce=str(record["client_nonce"]),
                correct=sum(entry.predicted == entry.label for entry in entries),
                entries=entries,
                proofs=jobs.proofs_by_digest(),
            )
        return EvaluationProgress(evaluation_id=evaluation_id, jobs=jobs, certificate=certificate)

    def _served_card(self, model: str, commitment: str, batch_commitment: str) -> ModelCard:
        record = self._service.ready_model(model)
        assert record.card_json is not None
        card = ModelCard.from_json(record.card_json)
        if card.batch is None:
            raise NotReady(
                f"model {model!r} has no batch circuit, so its proofs would publish the test "
                "examples; register it with --batch-size 2 or more to evaluate it"
            )
        if (card.commitment, card.batch.commitment) != (commitment, batch_commitment):
            raise NotReady(
                f"model {model!r} serves commitment {card.commitment} (batch "
                f"{card.batch.commitment}), not {commitment} (batch {batch_commitment})"
            )
        return card

    def _own_statement(self, statement_json: str) -> AccuracyStatement:
        try:
            statement = AccuracyStatement.from_json(statement_json)
            statement.verify()
        except AttestationError as exc:
            raise InvalidRequest(f"reveal refused: {exc}") from exc
        if statement.issuer_public_key != raw_public_key(self._key).hex():
            raise InvalidRequest(
                "reveal refused: the statement was not signed by this gateway; open the "
                "evaluation here first"
            )
        return statement

    def _record(self, evaluation_id: str, tenant: Tenant) -> dict[str, Any]:
        record = read_record(
            self._store, evaluation_id, record_format=_EVALUATION_FORMAT, what="evaluation"
        )
        if record["tenant"] != tenant.name:
            raise PermissionDenied(f"evaluation {evaluation_id} belongs to another tenant")
        return record


def _certificate_entry(
    entry: dict[str, Any], job: ProvenJob, output_scale: int
) -> CertificateEntry:
    """A sampled example's line in the certificate: its label, and the class its proven batch
    entry predicts."""
    outputs = [list(felts) for felts in job.result["batch_outputs"]]
    return CertificateEntry(
        test_index=int(entry["test_index"]),
        label=int(entry["label"]),
        predicted=predicted_class(dequantize(outputs[0], output_scale)),
        proof_digest=job.proof_digest,
        batch_index=int(job.result["batch_index"]),
        batch_size=int(job.result["batch_size"]),
        outputs=outputs,
    )


def parse_test_set(examples: bytes, labels: bytes) -> TestSet:
    try:
        return TestSet.from_npy(examples, labels)
    except TestSetError as exc:
        raise InvalidRequest(f"reveal refused: {exc}") from exc
