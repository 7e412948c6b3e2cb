"""The gRPC client of a zkgate gateway.

It speaks the Open Inference Protocol through `channel.unary_unary` on the spec's method path, so
zkgate-client never registers the `inference.*` protobuf package and imports fine beside
tritonclient or MLServer. Nothing the gateway returns is trusted here: `verify` is where trust is
established, against a commitment the caller pinned.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from pathlib import Path

import grpc
import numpy as np
import numpy.typing as npt

from zkgate.client.bundle import VerifierBundle
from zkgate.client.card import ModelCard
from zkgate.client.oip_codec import decode_tensors, encode_input
from zkgate.client.prediction import Prediction
from zkgate.client.receipts import Receipt
from zkgate.client.tensors import NamedTensor
from zkgate.client.verification import VerifiedPrediction, verify
from zkgate.wire import open_inference_pb2 as oip
from zkgate.wire import zkgate_pb2 as pb
from zkgate.wire import zkgate_pb2_grpc

OIP_PATH = "/inference.GRPCInferenceService/"
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class ProofJobFailed(RuntimeError):
    """The gateway's prover gave up on a job; `job` holds its state and error text."""

    def __init__(self, job: pb.Job) -> None:
        state = pb.JobState.Name(job.state)
        super().__init__(f"job {job.job_id} ended {state}: {job.error or 'no error text'}")
        self.job = job


class Client:
    def __init__(
        self,
        target: str,
        *,
        timeout: float = 30.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        channel: grpc.Channel | None = None,
    ) -> None:
        self._channel = channel or grpc.insecure_channel(
            target,
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
            ],
        )
        self._timeout = timeout
        self._infer = self._channel.unary_unary(
            OIP_PATH + "ModelInfer",
            request_serializer=oip.ModelInferRequest.SerializeToString,
            response_deserializer=oip.ModelInferResponse.FromString,
        )
        self._models = zkgate_pb2_grpc.ModelServiceStub(self._channel)
        self._proofs = zkgate_pb2_grpc.ProofServiceStub(self._channel)
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
    ) -> pb.RegisterModelResponse:
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

    def bundle(self, model: str) -> VerifierBundle:
        """The verifier's artifacts as the gateway serves them; `verify` checks them."""
        response: pb.VerifierBundle = self._models.GetVerifierBundle(
            pb.GetVerifierBundleRequest(name=model), timeout=self._timeout
        )
        return VerifierBundle(
            card=ModelCard.from_json(response.card_json),
            card_json=response.card_json,
            verifying_key=response.verifying_key,
            settings=response.settings,
            srs_slice=response.srs_slice,
        )

    def gateway_key(self) -> bytes:
        """The receipt-signing key the gateway announces (trust on first use; pin it if you can)."""
        if self._gateway_key is None:
            identity: pb.ServerIdentity = self._models.GetServerIdentity(
                pb.GetServerIdentityRequest(), timeout=self._timeout
            )
            self._gateway_key = bytes.fromhex(identity.receipt_public_key)
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
    ) -> VerifiedPrediction:
        """Fetches the verifier bundle and checks the proof locally; see `verification.verify`."""
        return verify(
            prediction,
            proof,
            self.bundle(prediction.model),
            pinned_commitment=pinned_commitment,
            gateway_public_key=gateway_public_key or self.gateway_key(),
            allow_insecure_srs=allow_insecure_srs,
            trusted_srs_identities=trusted_srs_identities,
            tolerance=tolerance,
        )
