"""A served prediction as the client keeps it: what it sent, what came back, and the receipt.

This is the file `zkgate infer --save` writes and `zkgate verify` reads, possibly much later and
on another machine, so tensors are stored as their exact raw bytes: the receipt's digests must
recompute bit for bit, which a decimal rendering of floats would not guarantee.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from zkgate.client.canonical import canonical_json
from zkgate.client.receipts import Receipt, ReceiptError
from zkgate.client.tensors import NamedTensor, TensorError

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


def _tensor_from_json(raw: Any) -> NamedTensor:
    if not isinstance(raw, dict):
        raise PredictionFormatError(f"a tensor must be a JSON object, got {type(raw).__name__}")
    try:
        name, datatype, shape = raw["name"], raw["datatype"], raw["shape"]
        data = base64.b64decode(raw["data"], validate=True)
    except KeyError as exc:
        raise PredictionFormatError(f"tensor lacks field {exc}") from exc
    except (binascii.Error, TypeError, ValueError) as exc:
        raise PredictionFormatError(f"tensor {raw.get('name')!r}: bad base64 data: {exc}") from exc
    if not isinstance(name, str) or not isinstance(datatype, str):
        raise PredictionFormatError("tensor name and datatype must be strings")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise PredictionFormatError(f"tensor {name!r}: shape must be non-negative integers")
    try:
        return NamedTensor.from_raw(name, datatype, shape, data)
    except TensorError as exc:
        raise PredictionFormatError(str(exc)) from exc


def _tensors_from_json(raw: Any, field: str) -> list[NamedTensor]:
    if not isinstance(raw, list):
        raise PredictionFormatError(f"{field} must be a list of tensors")
    return [_tensor_from_json(item) for item in raw]


@dataclass(frozen=True)
class Prediction:
    model: str
    request_id: str
    inputs: list[NamedTensor]
    outputs: list[NamedTensor]
    receipt: Receipt
    job_id: str | None = None

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
            raw = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PredictionFormatError(f"not valid JSON (truncated?): {exc}") from exc
        if not isinstance(raw, dict) or raw.get("format") != PREDICTION_FORMAT:
            found = raw.get("format") if isinstance(raw, dict) else None
            raise PredictionFormatError(
                f"not a zkgate prediction: format {found!r}, want {PREDICTION_FORMAT!r}"
            )
        model, request_id, job_id = raw.get("model"), raw.get("request_id"), raw.get("job_id")
        if not isinstance(model, str) or not isinstance(request_id, str):
            raise PredictionFormatError("model and request_id must be strings")
        if job_id is not None and not isinstance(job_id, str):
            raise PredictionFormatError("job_id must be a string or null")
        try:
            receipt = Receipt.from_json(json.dumps(raw.get("receipt")))
        except ReceiptError as exc:
            raise PredictionFormatError(str(exc)) from exc
        return cls(
            model=model,
            request_id=request_id,
            inputs=_tensors_from_json(raw.get("inputs"), "inputs"),
            outputs=_tensors_from_json(raw.get("outputs"), "outputs"),
            receipt=receipt,
            job_id=job_id,
        )
