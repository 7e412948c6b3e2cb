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
from zkgate.core.batch_rows import row_request_id, split_rows
from zkgate.core.documents import Fields, parse_json
from zkgate.core.oip_codec import decode_tensors, encode_input
from zkgate.core.prediction import Prediction
from zkgate.core.receipts import Receipt, ReceiptError
from zkgate.core.tensors import NamedTensor
from zkgate.wire import open_inference_pb2 as oip

# Response parameters of a request of several rows: a JSON array each, one entry per row.
_ROW_LISTS = ("zkgate.receipts", "zkgate.proof_jobs")


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
        rows = self.infer_rows(model, inputs, prove=prove, request_id=request_id)
        if len(rows) != 1:
            raise ValueError(
                f"the gateway served {len(rows)} rows (a model with a dynamic batch axis): "
                "use infer_rows for a batch"
            )
        return rows[0]

    def infer_rows(
        self,
        model: str,
        inputs: Mapping[str, npt.ArrayLike],
        *,
        prove: bool = False,
        request_id: str | None = None,
    ) -> list[Prediction]:
        """Runs a request and returns a prediction per row the gateway receipted: one, or for
        a model with a dynamic batch axis one per row on axis 0, each verifiable on its own."""
        request = oip.ModelInferRequest(model_name=model, id=request_id or uuid.uuid4().hex)
        tensors = [NamedTensor.of(name, np.asarray(value)) for name, value in inputs.items()]
        for tensor in tensors:
            encode_input(request, tensor)
        if prove:
            request.parameters["zkgate.prove"].bool_param = True
        response: oip.ModelInferResponse = self._infer(request, timeout=self._timeout)
        params = response.parameters
        outputs = decode_tensors(response.outputs, response.raw_output_contents)
        if "zkgate.receipts" not in params:
            job = params["zkgate.proof_job"].string_param if "zkgate.proof_job" in params else ""
            receipt = Receipt.from_json(params["zkgate.receipt"].string_param)
            return [Prediction(model, request.id, tensors, outputs, receipt, job or None)]
        listed = Fields.of(
            {
                key: parse_json(params[key].string_param, what=key)
                for key in _ROW_LISTS
                if key in params
            },
            what="response parameters",
        )
        receipts = [Receipt.from_fields(fields) for fields in listed.objects("zkgate.receipts")]
        count = len(receipts)
        jobs: list[str | None] = [None] * count
        if "zkgate.proof_jobs" in listed:
            jobs = list(listed.texts("zkgate.proof_jobs"))
        if len(jobs) != count:
            raise ReceiptError(f"the gateway sent {count} receipts but {len(jobs)} proof jobs")
        return [
            Prediction(model, row_request_id(request.id, row, count), row_in, row_out, r, job)
            for row, (row_in, row_out, r, job) in enumerate(
                zip(
                    split_rows(tensors, count),
                    split_rows(outputs, count),
                    receipts,
                    jobs,
                    strict=True,
                )
            )
        ]

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
