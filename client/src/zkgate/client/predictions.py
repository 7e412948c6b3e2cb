"""The Client's calls for single predictions: running one on the gateway, and verifying its
proof locally under the bundle the gateway serves and a commitment the caller pinned."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping

import numpy as np
import numpy.typing as npt

from zkgate.client.models import ModelCalls
from zkgate.client.verification.prediction import VerifiedPrediction, verify
from zkgate.core.batch_entry import BatchEntry
from zkgate.core.oip_codec import decode_tensors, encode_input
from zkgate.core.prediction import Prediction
from zkgate.core.receipts import Receipt
from zkgate.core.tensors import NamedTensor
from zkgate.wire import open_inference_pb2 as oip


class PredictionCalls(ModelCalls):
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
        """Fetches the verifier bundle and checks the proof locally; see
        `verification.prediction.verify`. For a batched proof pass the job's
        `batch_entry_of(job)`."""
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
