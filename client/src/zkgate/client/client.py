"""The gRPC client of a zkgate gateway.

It speaks the Open Inference Protocol through `channel.unary_unary` on the spec's method path, so
zkgate-client never registers the `inference.*` protobuf package and imports fine beside
tritonclient or MLServer. Nothing the gateway returns is trusted here: `verify` is where trust is
established, against a commitment the caller pinned.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.client.channel import TlsSettings, open_channel
from zkgate.client.protocols.accuracy.verification import VerifiedAccuracy, verify_accuracy
from zkgate.client.protocols.retrieval.predicate_circuit import check_served_scale
from zkgate.client.protocols.retrieval.verification import VerifiedRetrieval, verify_retrieval
from zkgate.client.verification.prediction import VerifiedPrediction, verify
from zkgate.core.attestations import (
    AttestationError,
    CommitmentTimestamp,
    SignedStatement,
    TrainingIntent,
    require_signed_before_reveal,
    sign_timestamp_request,
)
from zkgate.core.batch_entry import BatchEntry
from zkgate.core.bundle import VerifierBundle
from zkgate.core.canonical import sha256_hex
from zkgate.core.card import ModelCard
from zkgate.core.dataset import Dataset
from zkgate.core.held_out_set import TestSet
from zkgate.core.learning.policy import TrainingPolicy
from zkgate.core.oip_codec import decode_tensors, encode_input
from zkgate.core.prediction import Prediction
from zkgate.core.protocols.accuracy import (
    DEFAULT_DELTA,
    DEFAULT_EPSILON,
    AccuracyCertificate,
    AccuracyRequest,
    AccuracyStatement,
    hoeffding_sample_size,
    new_client_nonce,
)
from zkgate.core.protocols.contest import ContestRequest, ContestStatement, nonce_commitment
from zkgate.core.protocols.predicate import DEFAULT_PREDICATE_SCALE, check_predicate_scale
from zkgate.core.protocols.retrieval import (
    DEFAULT_OMISSION_SAMPLE,
    DatasetStatement,
    RequesterRecord,
    Retrieval,
    RetrievalFormatError,
    RetrievalRequest,
    RetrievalResult,
    RetrievalStatement,
    retrieval_sample,
)
from zkgate.core.receipts import Receipt
from zkgate.core.signing import parse_public_key_hex, raw_public_key
from zkgate.core.tensors import NamedTensor
from zkgate.wire import open_inference_pb2 as oip
from zkgate.wire import zkgate_pb2 as pb
from zkgate.wire import zkgate_pb2_grpc

if TYPE_CHECKING:
    from zkgate.client.protocols.contest.session import ContestResult, ProofSource

OIP_PATH = "/inference.GRPCInferenceService/"
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


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


class LearningReportMismatch(ValueError):
    """The report the gateway sent does not hash to the digest it named for it."""


class Client:
    def __init__(
        self,
        target: str,
        *,
        timeout: float = 30.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        channel: grpc.Channel | None = None,
        tls: TlsSettings | None = None,
        api_key: str | None = None,
    ) -> None:
        """`tls`: connect over TLS (with a client certificate for mTLS). `api_key`: the tenant's
        key, sent on every call; read it from a file or the environment, not a command line."""
        self._channel = channel or open_channel(
            target,
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
            ],
            tls=tls,
            api_key=api_key,
        )
        self._timeout = timeout
        self._infer = self._channel.unary_unary(
            OIP_PATH + "ModelInfer",
            request_serializer=oip.ModelInferRequest.SerializeToString,
            response_deserializer=oip.ModelInferResponse.FromString,
        )
        self._models = zkgate_pb2_grpc.ModelServiceStub(self._channel)
        self._proofs = zkgate_pb2_grpc.ProofServiceStub(self._channel)
        self._learning = zkgate_pb2_grpc.LearningServiceStub(self._channel)
        self._accuracy = zkgate_pb2_grpc.AccuracyServiceStub(self._channel)
        self._retrieval = zkgate_pb2_grpc.RetrievalServiceStub(self._channel)
        self._gateway_key: bytes | None = None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inference ----------------------------------------------------------------------------

    def infer(
        self,
        model: str,
        inputs: Mapping[str, npt.ArrayLike],
        *,
        prove: bool = False,
        request_id: str | None = None,
    ) -> Prediction:
        """Runs one prediction; with prove=True the gateway also enqueues its proof."""
        request = oip.ModelInferRequest(model_name=model, id=request_id or uuid.uuid4().hex)
        tensors = [NamedTensor.of(name, np.asarray(value)) for name, value in inputs.items()]
        for tensor in tensors:
            encode_input(request, tensor)
        if prove:
            request.parameters["zkgate.prove"].bool_param = True
        response: oip.ModelInferResponse = self._infer(request, timeout=self._timeout)
        params = response.parameters
        job = params["zkgate.proof_job"].string_param if "zkgate.proof_job" in params else None
        return Prediction(
            model=model,
            request_id=request.id,
            inputs=tensors,
            outputs=decode_tensors(response.outputs, response.raw_output_contents),
            receipt=Receipt.from_json(params["zkgate.receipt"].string_param),
            job_id=job or None,
        )

    # -- proofs -------------------------------------------------------------------------------

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

    def wait_for_job(self, job_id: str, *, timeout: float = 900.0) -> pb.Job:
        """Follows the server stream to the end; raises ProofJobFailed unless the job succeeded."""
        last: pb.Job | None = None
        for update in self._proofs.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=timeout):
            last = update
        if last is None or last.state != pb.JOB_STATE_SUCCEEDED:
            raise ProofJobFailed(last or pb.Job(job_id=job_id))
        return last

    def wait_for_proof(self, job_id: str, *, timeout: float = 900.0) -> bytes:
        """The ezkl proof JSON, once the prover has stored it."""
        return self.wait_for_job(job_id, timeout=timeout).proof

    # -- models -------------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        onnx_path: Path,
        calibration_path: Path,
        *,
        policy: str = "",
        max_logrows: int = 0,
        srs_path: str = "",
        srs_sha256: str = "",
        proof_of_learning: bytes | None = None,
        batch_size: int = 0,
    ) -> pb.RegisterModelResponse:
        """`proof_of_learning`: an archive (`zkgate pol record`) the prover verifies against
        this ONNX; its verdict appears in the model card. `batch_size` above 1: proofs of up to
        that many requests are made together (cross-request batching)."""
        policies = {
            "": pb.PROOF_POLICY_UNSPECIFIED,
            "on_request": pb.PROOF_POLICY_ON_REQUEST,
            "always": pb.PROOF_POLICY_ALWAYS,
            "never": pb.PROOF_POLICY_NEVER,
        }
        response: pb.RegisterModelResponse = self._models.RegisterModel(
            pb.RegisterModelRequest(
                name=name,
                onnx=onnx_path.read_bytes(),
                calibration=calibration_path.read_bytes(),
                policy=policies[policy],
                max_logrows=max_logrows,
                srs_path=srs_path,
                srs_sha256=srs_sha256,
                proof_of_learning=proof_of_learning or b"",
                batch_size=batch_size,
            ),
            timeout=self._timeout,
        )
        return response

    def model(self, name: str) -> pb.Model:
        result: pb.Model = self._models.GetModel(
            pb.GetModelRequest(name=name), timeout=self._timeout
        )
        return result

    def models(self) -> list[pb.Model]:
        response: pb.ListModelsResponse = self._models.ListModels(
            pb.ListModelsRequest(), timeout=self._timeout
        )
        return list(response.models)

    def bundle(self, model: str, *, batch: bool = False) -> VerifierBundle:
        """The verifier's artifacts as the gateway serves them (with batch, those of the
        model's batch circuit); `verify` checks them."""
        response: pb.VerifierBundle = self._models.GetVerifierBundle(
            pb.GetVerifierBundleRequest(name=model, batch=batch), timeout=self._timeout
        )
        return VerifierBundle(
            card=ModelCard.from_json(response.card_json),
            card_json=response.card_json,
            verifying_key=response.verifying_key,
            settings=response.settings,
            srs_slice=response.srs_slice,
        )

    def gateway_key(self) -> bytes:
        """The identity key the gateway announces, which signs receipts, training intents and
        timestamps (trust on first use; pin it if you can)."""
        if self._gateway_key is None:
            identity: pb.ServerIdentity = self._models.GetServerIdentity(
                pb.GetServerIdentityRequest(), timeout=self._timeout
            )
            self._gateway_key = parse_public_key_hex(
                identity.receipt_public_key, "the gateway's announced receipt key"
            )
        return self._gateway_key

    def verify(
        self,
        prediction: Prediction,
        proof: bytes,
        *,
        pinned_commitment: str,
        gateway_public_key: bytes | None = None,
        allow_insecure_srs: bool = False,
        trusted_srs_identities: Collection[str] = (),
        tolerance: float | None = None,
        batch_entry: BatchEntry | None = None,
        pinned_batch_commitment: str | None = None,
    ) -> VerifiedPrediction:
        """Fetches the verifier bundle and checks the proof locally; see `verification.verify`.
        For a batched proof pass the job's `batch_entry_of(job)`."""
        return verify(
            prediction,
            proof,
            self.bundle(prediction.model, batch=batch_entry is not None),
            pinned_commitment=pinned_commitment,
            gateway_public_key=gateway_public_key or self.gateway_key(),
            allow_insecure_srs=allow_insecure_srs,
            trusted_srs_identities=trusted_srs_identities,
            tolerance=tolerance,
            batch_entry=batch_entry,
            pinned_batch_commitment=pinned_batch_commitment,
        )

    # -- contests -----------------------------------------------------------------------------

    def open_contest(self, request: ContestRequest) -> ContestStatement:
        """The gateway's signed acceptance of a contest. Raises AttestationError unless the
        gateway's identity key signed it for exactly what was asked."""
        response: pb.SignedStatement = self._proofs.OpenContest(
            pb.OpenContestRequest(**asdict(request)), timeout=self._timeout
        )
        statement = ContestStatement.from_json(response.statement_json)
        self._check_statement(statement, **asdict(request))
        return statement

    def contest(
        self,
        contested: Sequence[Prediction],
        k: int,
        *,
        pinned_commitment: str,
        deadline_seconds: float,
        tamper_rate: float = 0.01,
        allow_insecure_srs: bool = False,
        trusted_srs_identities: Collection[str] = (),
        pinned_batch_commitment: str | None = None,
        proofs: ProofSource | None = None,
    ) -> ContestResult:
        """Contests k of the saved predictions, drawn so that neither side chose them, and
        verifies their proofs; see docs/protocols.md. `proofs`: where proofs come from, this
        client by default."""
        # Imported here: the contest session drives this client, so it imports this module.
        from zkgate.client.protocols.contest.session import ContestOptions, run_contest

        options = ContestOptions(
            pinned_commitment=pinned_commitment,
            allow_insecure_srs=allow_insecure_srs,
            trusted_srs_identities=trusted_srs_identities,
            pinned_batch_commitment=pinned_batch_commitment,
        )
        return run_contest(
            self,
            contested,
            k,
            options=options,
            deadline_seconds=deadline_seconds,
            tamper_rate=tamper_rate,
            proofs=proofs,
        )

    # -- verified accuracy --------------------------------------------------------------------

    def evaluate_accuracy(
        self,
        model: str,
        test_set: TestSet,
        *,
        pinned_commitment: str,
        pinned_batch_commitment: str,
        epsilon: float = DEFAULT_EPSILON,
        delta: float = DEFAULT_DELTA,
        sample_size: int | None = None,
        timeout: float = 3600.0,
    ) -> AccuracyCertificate:
        """Runs an evaluation to its certificate: commit to the test set and a nonce, have the
        gateway sign the model commitment it serves, reveal, wait for the sampled proofs. The
        sample is Hoeffding's n for (epsilon, delta) unless given, at most the set's size. The
        certificate is the provider's claim: check it with `verify_accuracy`."""
        nonce = new_client_nonce()
        request = AccuracyRequest(
            model=model,
            commitment=pinned_commitment.lower(),
            batch_commitment=pinned_batch_commitment.lower(),
            test_set_commitment=test_set.commitment(),
            test_set_size=len(test_set),
            sample_size=sample_size or min(hoeffding_sample_size(epsilon, delta), len(test_set)),
            delta=repr(float(delta)),
            client_nonce_sha256=nonce_commitment(nonce),
        )
        request.check()  # before the call: a sample the set cannot hold is the caller's error
        response: pb.SignedStatement = self._accuracy.OpenEvaluation(
            pb.OpenEvaluationRequest(**asdict(request)), timeout=self._timeout
        )
        statement = AccuracyStatement.from_json(response.statement_json)
        self._check_statement(statement, **asdict(request))
        examples, labels = test_set.to_npy()
        evaluation: pb.Evaluation = self._accuracy.RevealTestSet(
            pb.RevealTestSetRequest(
                statement_json=response.statement_json,
                client_nonce=nonce.hex(),
                examples=examples,
                labels=labels,
            ),
            timeout=max(self._timeout, 300.0),
        )
        for job_id in evaluation.job_ids:
            self.wait_for_job(job_id, timeout=timeout)
        evaluation = self._accuracy.GetEvaluation(
            pb.GetEvaluationRequest(evaluation_id=evaluation.evaluation_id), timeout=self._timeout
        )
        certificate = AccuracyCertificate.from_json(evaluation.certificate_json)
        require_signed_before_reveal(statement, certificate.statement, "certificate")
        return certificate

    def verify_accuracy(
        self,
        certificate: AccuracyCertificate,
        test_set: TestSet,
        *,
        pinned_commitment: str,
        pinned_batch_commitment: str,
        gateway_public_key: bytes | None = None,
        allow_insecure_srs: bool = False,
        trusted_srs_identities: Collection[str] = (),
    ) -> VerifiedAccuracy:
        """Fetches the batch circuit's bundle and checks the certificate locally; see
        `accuracy_verification.verify_accuracy`."""
        return verify_accuracy(
            certificate,
            test_set,
            self.bundle(certificate.statement.model, batch=True),
            pinned_commitment=pinned_commitment,
            pinned_batch_commitment=pinned_batch_commitment,
            gateway_public_key=gateway_public_key or self.gateway_key(),
            allow_insecure_srs=allow_insecure_srs,
            trusted_srs_identities=trusted_srs_identities,
        )

    # -- trustless retrieval ------------------------------------------------------------------

    def commit_dataset(self, name: str, dataset: Dataset) -> tuple[str, DatasetStatement]:
        """The responder's side (an admin key): stores the records and returns the dataset id
        and the gateway's signed commitment, checked to be over exactly these records."""
        response: pb.Dataset = self._retrieval.CommitDataset(
            pb.CommitDatasetRequest(name=name, records=dataset.to_npy()),
            timeout=max(self._timeout, 300.0),
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
        registration: pb.RegisterModelResponse = self._retrieval.RegisterPredicate(
            pb.RegisterPredicateRequest(
                dataset_id=dataset_id, onnx=predicate_onnx, scale=check_predicate_scale(scale)
            ),
            timeout=max(self._timeout, 300.0),
        )
        self.wait_for_job(registration.job_id, timeout=timeout)
        predicate = registration.model.name
        check_served_scale(self.bundle(predicate).settings, scale)
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
            timeout=max(self._timeout, 300.0),
        )
        statement = RetrievalStatement.from_json(response.statement_json)
        self._check_statement(statement, **asdict(request))
        retrieval: pb.Retrieval = self._retrieval.RevealRetrievalNonce(
            pb.RevealRetrievalNonceRequest(
                dataset_id=dataset_id,
                statement_json=response.statement_json,
                client_nonce=nonce.hex(),
            ),
            timeout=max(self._timeout, 300.0),
        )
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
        retrieval = self._retrieval.GetRetrieval(
            pb.GetRetrievalRequest(retrieval_id=retrieval.retrieval_id),
            timeout=max(self._timeout, 300.0),
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
        `retrieval_verification.verify_retrieval`."""
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

    # -- proof-of-learning --------------------------------------------------------------------

    def issue_training_intent(
        self, owner_public_key: str, policy: TrainingPolicy
    ) -> TrainingIntent:
        """A fresh intent from the gateway; the run's seed derives from it. The gateway keeps
        the policy itself, so a later registration is verified against what it agreed to.
        Raises AttestationError unless the gateway's identity key signed it for this owner and
        policy."""
        policy_digest = policy.digest()
        response: pb.SignedStatement = self._learning.IssueTrainingIntent(
            pb.IssueTrainingIntentRequest(
                owner_public_key=owner_public_key,
                policy_digest=policy_digest,
                policy_json=policy.to_json(),
            ),
            timeout=self._timeout,
        )
        intent = TrainingIntent.from_json(response.statement_json)
        self._check_statement(
            intent, owner_public_key=owner_public_key, policy_digest=policy_digest
        )
        return intent

    def timestamp_commitment(
        self, owner_key: Ed25519PrivateKey, commitment: str
    ) -> CommitmentTimestamp:
        """The gateway's signed word that it saw `commitment` now. Raises AttestationError
        unless the gateway's identity key signed it for this owner and commitment."""
        owner_public_key = raw_public_key(owner_key).hex()
        response: pb.SignedStatement = self._learning.TimestampCommitment(
            pb.TimestampCommitmentRequest(
                owner_public_key=owner_public_key,
                commitment=commitment,
                request_signature=sign_timestamp_request(owner_key, commitment),
            ),
            timeout=self._timeout,
        )
        timestamp = CommitmentTimestamp.from_json(response.statement_json)
        self._check_statement(timestamp, owner_public_key=owner_public_key, commitment=commitment)
        return timestamp

    def learning_report(self, name: str) -> str:
        """The prover's proof-of-learning report (JSON) for a model; the card holds its digest."""
        response: pb.LearningReport = self._learning.GetLearningReport(
            pb.GetLearningReportRequest(name=name), timeout=self._timeout
        )
        if sha256_hex(response.report_json.encode("utf-8")) != response.report_digest:
            raise LearningReportMismatch(
                f"the learning report of {name!r} does not hash to {response.report_digest}"
            )
        return response.report_json

    def _check_statement(
        self,
        statement: SignedStatement,
        **expected: object,
    ) -> None:
        """The gateway signed it (not merely someone), and it says what was asked for."""
        statement.verify_issued_by(self.gateway_key())
        for name, want in expected.items():
            got = getattr(statement, name)
            if got != want:
                raise AttestationError(
                    f"{type(statement).__name__} has {name} {got!r}, but {want!r} was asked for"
                )
