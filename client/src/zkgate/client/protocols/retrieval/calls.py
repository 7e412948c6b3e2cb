"""The Client's calls for trustless retrieval: a responder committing its dataset, a requester
running a retrieval to its result, and checking that result under the predicate's bundle."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict
from pathlib import Path

from zkgate.client.models import ModelCalls
from zkgate.client.proof_jobs import ProofCalls, ProofJobFailed
from zkgate.client.protocols.retrieval.predicate_circuit import check_served_scale
from zkgate.client.protocols.retrieval.verification import VerifiedRetrieval, verify_retrieval
from zkgate.core.attestations import AttestationError, require_signed_before_reveal
from zkgate.core.dataset import Dataset
from zkgate.core.protocols.contest import new_client_nonce, nonce_commitment
from zkgate.core.protocols.limits import DEFAULT_OMISSION_SAMPLE
from zkgate.core.protocols.predicate import DEFAULT_PREDICATE_SCALE, check_predicate_scale
from zkgate.core.protocols.retrieval import (
    DatasetStatement,
    RequesterRecord,
    Retrieval,
    RetrievalFormatError,
    RetrievalRequest,
    RetrievalResult,
    RetrievalStatement,
    retrieval_sample,
)
from zkgate.wire import zkgate_pb2 as pb


class RetrievalRefused(ProofJobFailed):
    """The responder did not prove a record its answer or the draw calls for. For a drawn
    left-out record this is what an omission looks like: the record may match, and the
    responder will not show it. The signed answer, the nonce and the draw (all the requester
    holds) show anyone which record it was asked to prove."""

    def __init__(self, index: int, matched: bool, job: pb.Job) -> None:
        role = "a claimed match" if matched else "a left-out record drawn for the omission check"
        super().__init__(job, f"the responder did not prove record {index}, {role}")
        self.index = index
        self.matched = matched


class RetrievalCalls(ProofCalls, ModelCalls):
    def commit_dataset(self, name: str, dataset: Dataset) -> tuple[str, DatasetStatement]:
        """The responder's side (an admin key): stores the records and returns the dataset id
        and the gateway's signed commitment, checked to be over exactly these records."""
        response: pb.Dataset = self._retrieval.CommitDataset(
            pb.CommitDatasetRequest(name=name, records=dataset.to_npy()),
            timeout=self._storing_call_timeout,
        )
        statement = DatasetStatement.from_json(response.statement_json)
        self._check_statement(statement, name=name, root=dataset.commitment(), size=len(dataset))
        return response.dataset_id, statement

    def dataset(self, dataset_id: str) -> DatasetStatement:
        """The dataset's signed commitment. A requester fetches and keeps it before sending any
        predicate: it is what the answer is checked against."""
        response: pb.Dataset = self._retrieval.GetDataset(
            pb.GetDatasetRequest(dataset_id=dataset_id), timeout=self._timeout
        )
        statement = DatasetStatement.from_json(response.statement_json)
        self._check_statement(statement)
        return statement

    def retrieve(
        self,
        dataset_id: str,
        dataset: DatasetStatement,
        predicate_onnx: bytes,
        *,
        sample_size: int = DEFAULT_OMISSION_SAMPLE,
        scale: int = DEFAULT_PREDICATE_SCALE,
        timeout: float = 3600.0,
    ) -> Retrieval:
        """Runs a retrieval to its result: register the predicate at `scale` (bits after the
        point for records and weights), commit to a nonce, have the gateway sign its answer,
        reveal, wait for the proofs. The result is the responder's claim; the record beside it
        is what the requester held before revealing. Check both with `verify_retrieval`."""
        if sample_size < 1:
            raise RetrievalFormatError(
                f"sample size {sample_size}: check at least one left-out record, or nothing "
                "shows that the answer omits no match"
            )
        predicate = self._register_predicate(dataset_id, predicate_onnx, scale, timeout)
        nonce = new_client_nonce()
        request = RetrievalRequest(
            dataset_root=dataset.root,
            dataset_size=dataset.size,
            predicate_model=predicate,
            predicate_commitment=self.model(predicate).commitment,
            sample_size=min(sample_size, dataset.size),
            client_nonce_sha256=nonce_commitment(nonce),
        )
        response: pb.SignedStatement = self._retrieval.OpenRetrieval(
            pb.OpenRetrievalRequest(dataset_id=dataset_id, **asdict(request)),
            timeout=self._storing_call_timeout,
        )
        statement = RetrievalStatement.from_json(response.statement_json)
        self._check_statement(statement, **asdict(request))
        retrieval: pb.Retrieval = self._retrieval.RevealRetrievalNonce(
            pb.RevealRetrievalNonceRequest(
                dataset_id=dataset_id,
                statement_json=response.statement_json,
                client_nonce=nonce.hex(),
            ),
            timeout=self._storing_call_timeout,
        )
        self._wait_for_retrieval_proofs(retrieval, statement, nonce, timeout)
        retrieval = self._retrieval.GetRetrieval(
            pb.GetRetrievalRequest(retrieval_id=retrieval.retrieval_id),
            timeout=self._storing_call_timeout,
        )
        result = RetrievalResult.from_json(retrieval.result_json)
        require_signed_before_reveal(statement, result.statement, "retrieval result")
        record = RequesterRecord(
            statement=statement,
            client_nonce=nonce.hex(),
            sample_size=request.sample_size,
            scale=scale,
        )
        return Retrieval(record=record, result=result)

    def _register_predicate(
        self, dataset_id: str, predicate_onnx: bytes, scale: int, timeout: float
    ) -> str:
        """The predicate's model name, once the responder has keyed it at the scale asked for."""
        registration: pb.RegisterModelResponse = self._retrieval.RegisterPredicate(
            pb.RegisterPredicateRequest(
                dataset_id=dataset_id, onnx=predicate_onnx, scale=check_predicate_scale(scale)
            ),
            timeout=self._storing_call_timeout,
        )
        self.wait_for_job(registration.job_id, timeout=timeout)
        predicate = registration.model.name
        check_served_scale(self.bundle(predicate).settings, scale)
        return predicate

    def _wait_for_retrieval_proofs(
        self,
        retrieval: pb.Retrieval,
        statement: RetrievalStatement,
        nonce: bytes,
        timeout: float,
    ) -> None:
        """One proof per claimed match, then one per left-out record drawn; a proof that fails
        names its record and role (RetrievalRefused)."""
        roles = [(index, True) for index in statement.match_indices()]
        roles += [(index, False) for index in retrieval_sample(statement, nonce)]
        if len(retrieval.job_ids) != len(roles):
            raise AttestationError(
                f"the gateway queued {len(retrieval.job_ids)} proofs; its answer and the draw "
                f"call for {len(roles)}"
            )
        for job_id, (index, matched) in zip(retrieval.job_ids, roles, strict=True):
            try:
                self.wait_for_job(job_id, timeout=timeout)
            except ProofJobFailed as exc:
                raise RetrievalRefused(index, matched, exc.job) from exc

    def verify_retrieval(
        self,
        retrieval: Retrieval,
        dataset: DatasetStatement,
        predicate_onnx: bytes,
        *,
        srs_path: Path,
        gateway_public_key: bytes | None = None,
        allow_insecure_srs: bool = False,
        trusted_srs_identities: Collection[str] = (),
    ) -> VerifiedRetrieval:
        """Fetches the predicate's bundle and checks the result locally; see
        `protocols.retrieval.verification.verify_retrieval`."""
        return verify_retrieval(
            retrieval,
            dataset,
            predicate_onnx,
            self.bundle(retrieval.statement.predicate_model),
            srs_path=srs_path,
            gateway_public_key=gateway_public_key or self.gateway_key(),
            allow_insecure_srs=allow_insecure_srs,
            trusted_srs_identities=trusted_srs_identities,
        )
