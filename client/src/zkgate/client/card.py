"""The model card: what a provider publishes about a registered model.

A card is the provider's claim. The client trusts nothing in it until the verifier bundle that
came with it hashes to the commitment the client pinned; after that, the fields that matter for
soundness (SRS identity, ezkl version) are checked against the bundle, and the rest (fidelity,
costs) are informative.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from zkgate.client.canonical import canonical_json

CARD_FORMAT = "zkgate.model-card/1"
SRS_ORIGIN_DEV = "insecure-dev"
SRS_ORIGIN_CEREMONY = "ceremony"
# The key in `artifacts` naming the proof-of-learning report, when the card has one.
LEARNING_REPORT_ARTIFACT = "learning_report"
LEARNING_ACCEPTED = "accepted"
LEARNING_REJECTED = "rejected"


class CardFormatError(ValueError):
    """A card that cannot be read: wrong format tag, missing or mistyped fields."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    shape: list[int]


@dataclass(frozen=True)
class Visibility:
    input: str
    output: str
    param: str


@dataclass(frozen=True)
class Fidelity:
    """Gap between the float model (onnxruntime) and the quantized circuit on calibration data.

    `tolerance` is the largest served-vs-proven difference a client accepts by default.
    """

    samples: int
    max_abs_diff: float
    argmax_agreement: float
    tolerance: float


@dataclass(frozen=True)
class SrsInfo:
    origin: str
    logrows: int
    file_sha256: str
    identity: str


@dataclass(frozen=True)
class KeySizes:
    proving_key_bytes: int
    verifying_key_bytes: int


@dataclass(frozen=True)
class LearningSummary:
    """The prover's verdict on the proof-of-learning sent with the registration.

    Evidence that the owner trained the served weights, not proof: a verifier replays a sample of
    the run (see the report, in `artifacts["learning_report"]`, for what was checked). A rejected
    proof does not stop the model from serving; the card says so and why.
    """

    decision: str
    reasons: list[str]
    report_digest: str
    manifest_digest: str
    owner_public_key: str
    intent_issuer_public_key: str
    earliest_timestamp_ms: int | None

    @property
    def accepted(self) -> bool:
        return self.decision == LEARNING_ACCEPTED


@dataclass(frozen=True)
class BatchCircuit:
    """A second circuit of the same model over `size` requests at once, with hashed inputs and
    outputs, so that requests of different clients share one proof without any of them seeing
    another's data. Its keys and settings have their own commitment, which a client pins
    alongside the model's."""

    size: int
    commitment: str
    logrows: int
    input_scale: int
    output_scale: int
    keys: KeySizes
    prove_seconds: float
    srs: SrsInfo
    artifacts: dict[str, str]


@dataclass(frozen=True)
class ModelCard:
    name: str
    commitment: str
    ezkl_version: str
    visibility: Visibility
    logrows: int
    input_scale: int
    output_scale: int
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    fidelity: Fidelity
    keys: KeySizes
    prove_seconds: float
    srs: SrsInfo
    onnx_sha256: str
    artifacts: dict[str, str]
    created_at: float
    format: str = field(default=CARD_FORMAT)
    proof_of_learning: LearningSummary | None = None
    batch: BatchCircuit | None = None

    @property
    def insecure_srs(self) -> bool:
        return self.srs.origin == SRS_ORIGIN_DEV

    def to_json(self) -> str:
        body = asdict(self)
        # Optional sections are absent rather than null, so a card without them has the same
        # bytes as before they existed.
        for section in ("proof_of_learning", "batch"):
            if body[section] is None:
                del body[section]
        return canonical_json(body).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelCard:
        try:
            raw: dict[str, Any] = json.loads(text)
            if raw.get("format") != CARD_FORMAT:
                raise CardFormatError(
                    f"not a zkgate model card: format {raw.get('format')!r}, want {CARD_FORMAT!r}"
                )
            return cls(
                **{
                    **raw,
                    "visibility": Visibility(**raw["visibility"]),
                    "inputs": [TensorSpec(**t) for t in raw["inputs"]],
                    "outputs": [TensorSpec(**t) for t in raw["outputs"]],
                    "fidelity": Fidelity(**raw["fidelity"]),
                    "keys": KeySizes(**raw["keys"]),
                    "srs": SrsInfo(**raw["srs"]),
                    "proof_of_learning": _learning_summary(raw.get("proof_of_learning")),
                    "batch": _batch_circuit(raw.get("batch")),
                }
            )
        except CardFormatError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise CardFormatError(f"malformed model card: {exc}") from exc


def _learning_summary(raw: dict[str, Any] | None) -> LearningSummary | None:
    if raw is None:
        return None
    summary = LearningSummary(**raw)
    if summary.decision not in (LEARNING_ACCEPTED, LEARNING_REJECTED):
        raise CardFormatError(
            f"proof_of_learning.decision is {summary.decision!r}, want "
            f"{LEARNING_ACCEPTED!r} or {LEARNING_REJECTED!r}"
        )
    return summary


def _batch_circuit(raw: dict[str, Any] | None) -> BatchCircuit | None:
    if raw is None:
        return None
    return BatchCircuit(**{**raw, "keys": KeySizes(**raw["keys"]), "srs": SrsInfo(**raw["srs"])})
