"""A served prediction as the client keeps it: what it sent, what came back, and the receipt.

This is the file `zkgate infer --save` writes and `zkgate verify` reads, possibly much later and
on another machine, so tensors are stored as their exact raw bytes: the receipt's digests must
recompute bit for bit, which a decimal rendering of floats would not guarantee.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from zkgate.core.canonical import canonical_json
from zkgate.core.documents import DocumentError, Fields, parse_object, quote
from zkgate.core.receipts import Receipt, ReceiptError
from zkgate.core.tensors import NamedTensor, TensorError, tensors_digest

PREDICTION_FORMAT = "zkgate.prediction/1"


class PredictionFormatError(ValueError):
    """A prediction file that is malformed, truncated or of another format."""


def _tensor_to_json(tensor: NamedTensor) -> dict[str, Any]:
    return {
        "name": tensor.name,
        "datatype": tensor.datatype,
        "shape": list(tensor.shape),
        "data": base64.b64encode(tensor.raw_bytes()).decode("ascii"),
    }


def _tensor_from_fields(raw: Fields) -> NamedTensor:
    name = raw.text("name")
    try:
        return NamedTensor.from_raw(
            name, raw.text("datatype"), raw.counts("shape"), raw.base64_bytes("data")
        )
    except TensorError as exc:
        raise PredictionFormatError(f"tensor {quote(name)}: {exc}") from exc


@dataclass(frozen=True)
class Prediction:
    model: str
    request_id: str
    inputs: list[NamedTensor]
    outputs: list[NamedTensor]
    receipt: Receipt
    job_id: str | None = None

    def receipt_disagreements(self) -> list[tuple[str, str, str]]:
        """Each field where the signed receipt and the kept request and response differ, as
        (field, as signed, as kept): a receipt binds only the prediction it agrees with."""
        body = self.receipt.body
        return [
            (what, signed, held)
            for what, signed, held in (
                ("model", body.model, self.model),
                ("request id", body.request_id, self.request_id),
                ("input digest", body.input_digest, tensors_digest(self.inputs)),
                ("output digest", body.output_digest, tensors_digest(self.outputs)),
            )
            if signed != held
        ]

    def to_json(self) -> str:
        return canonical_json(
            {
                "format": PREDICTION_FORMAT,
                "model": self.model,
                "request_id": self.request_id,
                "job_id": self.job_id,
                "inputs": [_tensor_to_json(t) for t in self.inputs],
                "outputs": [_tensor_to_json(t) for t in self.outputs],
                "receipt": json.loads(self.receipt.to_json()),
            }
        ).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> Prediction:
        try:
            return cls.from_fields(parse_object(text, what="prediction"))
        except DocumentError as exc:
            raise PredictionFormatError(str(exc)) from exc

    @classmethod
    def from_fields(cls, raw: Fields) -> Prediction:
        """For documents that carry a prediction inside them (contest evidence)."""
        try:
            found = raw.optional_text("format")
            if found != PREDICTION_FORMAT:
                raise PredictionFormatError(
                    f"not a zkgate prediction: format {quote(found)}, want {PREDICTION_FORMAT!r}"
                )
            return cls(
                model=raw.text("model"),
                request_id=raw.text("request_id"),
                inputs=[_tensor_from_fields(t) for t in raw.objects("inputs")],
                outputs=[_tensor_from_fields(t) for t in raw.objects("outputs")],
                receipt=Receipt.from_fields(raw.object("receipt")),
                job_id=raw.optional_text("job_id"),
            )
        except (DocumentError, ReceiptError) as exc:
            raise PredictionFormatError(str(exc)) from exc
