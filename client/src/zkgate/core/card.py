"""The model card: what a provider publishes about a registered model.

A card is the provider's claim. The client trusts nothing in it until the verifier bundle that
came with it hashes to the commitment the client pinned; after that, the fields that matter for
soundness (SRS identity, ezkl version) are checked against the bundle. The serving terms (tensor
signature and fidelity tolerance) are covered by the commitment itself; the rest (costs, times)
are informative.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from zkgate.core.canonical import canonical_json
from zkgate.core.documents import DocumentError, parse_object, quote, read_dataclass

CARD_FORMAT = "zkgate.model-card/2"
SRS_ORIGIN_DEV = "insecure-dev"
SRS_ORIGIN_CEREMONY = "ceremony"
# The key in `artifacts` naming the proof-of-learning report, when the card has one.
LEARNING_REPORT_ARTIFACT = "learning_report"
LEARNING_ACCEPTED = "accepted"
LEARNING_REJECTED = "rejected"
# How a served output is held to the proven one (OutputFidelity.comparison).
EXACT = "exact"
ARGMAX = "argmax"
# Open Inference Protocol datatypes of integer and boolean tensors: class labels, counts, masks.
INTEGER_DATATYPES = frozenset(
    {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"}
)


class CardFormatError(ValueError):
    """A card that cannot be read: wrong format tag, missing or mistyped fields."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    shape: list[int]


def is_integer_datatype(datatype: str) -> bool:
    """An integer or boolean tensor: there is no quantization gap to allow for between its
    served and proven values, so they must be equal."""
    return datatype in INTEGER_DATATYPES


@dataclass(frozen=True)
class OutputFidelity:
    """One output's measured gap and the tolerance a client holds it to by default.

    An integer output (a class label from an ArgMax, a count) is compared `exact`: tolerance 0,
    and `agreement` is the share of measured inputs whose served value equalled the proven one
    in every element. A float output is compared within `tolerance` (from its measured gap and
    its own output scale), and `agreement` is the share of (input, row) pairs whose argmax along
    the last axis agreed (`argmax`): the class agreement of a scores or logits output.
    """

    name: str
    comparison: str
    max_abs_diff: float
    agreement: float
    tolerance: float

    def check(self) -> None:
        if self.comparison not in (EXACT, ARGMAX):
            raise CardFormatError(
                f"malformed model card: output {quote(self.name)} is compared "
                f"{quote(self.comparison)}, want {EXACT!r} or {ARGMAX!r}"
            )
        if not (self.max_abs_diff >= 0 and self.tolerance >= 0 and 0 <= self.agreement <= 1):
            raise CardFormatError(
                f"malformed model card: output {quote(self.name)}'s fidelity figures are out of "
                "range"
            )
        if self.comparison == EXACT and self.tolerance != 0:
            raise CardFormatError(
                f"malformed model card: output {quote(self.name)} is compared exactly, yet has "
                f"tolerance {self.tolerance}"
            )


@dataclass(frozen=True)
class Visibility:
    input: str
    output: str
    param: str


@dataclass(frozen=True)
class Fidelity:
    """Gap between the float model (onnxruntime) and the quantized circuit, measured at
    registration on `samples` inputs.

    `tolerance` is the largest served-vs-proven difference a client accepts by default; the
    model commitment covers it (see `serving_terms`). `method` says how it was derived, and
    `false_rejection_bound` bounds the chance that an honest prediction on an input like the
    measured ones is rejected by it.

    `outputs` (cards registered since models may have integer outputs) holds each output's own
    figures, in the model's output order; `tolerance` is then the largest of them and
    `argmax_agreement` the smallest agreement. A card without it holds every output to
    `tolerance` (integer outputs, in a client, to equality all the same).
    """

    samples: int
    max_abs_diff: float
    argmax_agreement: float
    tolerance: float
    method: str
    false_rejection_bound: float
    outputs: list[OutputFidelity] | None = None

    def check(self) -> None:
        if not (self.max_abs_diff >= 0 and self.tolerance >= 0):
            raise CardFormatError(
                f"malformed model card: fidelity tolerance {self.tolerance} and max_abs_diff "
                f"{self.max_abs_diff} must be non-negative"
            )
        for name in ("argmax_agreement", "false_rejection_bound"):
            if not 0 <= getattr(self, name) <= 1:
                raise CardFormatError(f"malformed model card: fidelity {name} is not in [0, 1]")
        for output in self.outputs or []:
            output.check()

    def document(self) -> dict[str, object]:
        """As the card and the serving terms write it: without `outputs` when the card has
        none, so a card registered before they existed keeps its bytes and its commitment."""
        body = asdict(self)
        if self.outputs is None:
            del body["outputs"]
        return body

    def output_tolerances(self, outputs: list[TensorSpec]) -> list[float]:
        """The tolerance each output is held to by default: its own, or the card's one
        tolerance; 0 for integer outputs either way."""
        own = [o.tolerance for o in self.outputs] if self.outputs else None
        return [
            0.0
            if is_integer_datatype(spec.datatype)
            else (self.tolerance if own is None else own[i])
            for i, spec in enumerate(outputs)
        ]


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
    # Proofs of learning from the same owner for the same ONNX file (under any model name) that
    # the gateway's provers rejected before this one. Each verification draws a fresh nonce, so
    # a partial spoof accepted on its fifth try shows 4 here. The provider's own record: a
    # reader who does not trust the provider learns from it only what the provider admits.
    rejected_before: int = 0

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
    prove_peak_rss_bytes: int | None = None


@dataclass(frozen=True)
class CircuitLayout:
    """The ezkl settings circuit tuning chooses among. Scales set the fixed-point precision (and
    with it fidelity and the size of every lookup table); the decomposition sets how values are
    range-checked; columns trade rows for width. None of them binds anything a verifier relies
    on beyond what the commitment already covers (the settings file is part of it)."""

    input_scale: int
    param_scale: int
    scale_rebase_multiplier: int
    decomp_base: int
    decomp_legs: int
    num_inner_cols: int
    logrows: int


@dataclass(frozen=True)
class TuningCandidate:
    """One layout the tuner looked at: its measured rows, its fidelity on held-out calibration
    samples (None when no witness was made), its measured prove time (None when it was pruned
    before proving), and what became of it."""

    layout: CircuitLayout
    rows: int
    fidelity: float | None
    prove_seconds: float | None
    outcome: str


@dataclass(frozen=True)
class Tuning:
    """How the circuit's settings were chosen: the fidelity target, the effort, every candidate
    and why the winner won. Informative, like the costs: a client's checks rest on the
    commitment, whatever the search was."""

    target: str
    effort: str
    seconds: float
    chosen: CircuitLayout
    reason: str
    candidates: list[TuningCandidate]


CONVERSION_SERVED = ("converted", "original")


@dataclass(frozen=True)
class Conversion:
    """How the served graph was derived from the submitted one, for models whose operators
    ezkl cannot prove as sent (ONNX-ML, from skl2onnx): the tool and its version, the
    strategy, the submitted file's SHA-256, the operator types rewritten, and the largest
    difference between the two graphs over `samples` calibration inputs (labels agreed on
    every one). `served` says which graph the gateway serves: "converted", so that a
    client's verified output refers to the graph that answered it.

    Informative, like `tuning`, and outside the serving terms: a client's checks hold the
    served outputs to the circuit (the commitment) and the fidelity tolerance (the terms); the
    submitted graph never answers a request, so nothing a client receives is held to it. The
    record is provenance for an auditor, who can rerun the tool on the original and compare
    the result with `onnx_sha256`.
    """

    tool: str
    tool_version: str
    strategy: str
    original_onnx_sha256: str
    operators: list[str]
    samples: int
    max_abs_diff: float
    served: str

    def check(self) -> None:
        if self.served not in CONVERSION_SERVED or not self.max_abs_diff >= 0:
            raise CardFormatError(
                f"malformed model card: conversion.served is {quote(self.served)} (want one "
                f"of {list(CONVERSION_SERVED)}) and max_abs_diff {self.max_abs_diff} must be "
                "non-negative"
            )


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
    # The peak resident memory of the registration's test proof, in a process of its own: what
    # a prover needs to hold one proof of this model (provers are matched to jobs by it).
    prove_peak_rss_bytes: int | None = None
    tuning: Tuning | None = None
    # The served graph takes any number of rows on axis 0 of every input and output; `inputs`
    # and `outputs` hold one row, the shape each row is proven (and verified) at. Informative:
    # a client verifies each row of a batch as a prediction of its own.
    dynamic_batch: bool = False
    # The served graph is a rewrite of the submitted one (see Conversion); None when the
    # submitted graph is served as sent.
    conversion: Conversion | None = None

    @property
    def insecure_srs(self) -> bool:
        return self.srs.origin == SRS_ORIGIN_DEV

    def to_json(self) -> str:
        body = asdict(self)
        # Optional sections are absent rather than null, so a card without them has the same
        # bytes as before they existed.
        for section in (
            "proof_of_learning",
            "batch",
            "prove_peak_rss_bytes",
            "tuning",
            "conversion",
        ):
            if body[section] is None:
                del body[section]
        if not self.dynamic_batch:
            del body["dynamic_batch"]
        body["fidelity"] = self.fidelity.document()
        return canonical_json(body).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelCard:
        try:
            fields = parse_object(text, what="model card")
            if fields.raw.get("format") != CARD_FORMAT:
                raise CardFormatError(
                    f"not a zkgate model card: format {quote(fields.raw.get('format'))}, "
                    f"want {CARD_FORMAT!r}"
                )
            card = read_dataclass(cls, fields)
        except DocumentError as exc:
            raise CardFormatError(f"malformed model card: {exc}") from exc
        card.check()
        return card

    def check(self) -> None:
        """What the types alone do not say; a card failing these could not have come from a
        registration, and the verifier would otherwise read nonsense out of it."""
        if not self.inputs or not self.outputs:
            raise CardFormatError("malformed model card: a model has at least one input and output")
        self.fidelity.check()
        self._check_output_fidelity()
        if self.conversion is not None:
            self.conversion.check()
        if self.proof_of_learning is not None and self.proof_of_learning.decision not in (
            LEARNING_ACCEPTED,
            LEARNING_REJECTED,
        ):
            raise CardFormatError(
                f"proof_of_learning.decision is {quote(self.proof_of_learning.decision)}, want "
                f"{LEARNING_ACCEPTED!r} or {LEARNING_REJECTED!r}"
            )

    def _check_output_fidelity(self) -> None:
        """Per-output figures, where the card has them, name the outputs in order and compare
        integer outputs exactly and only those."""
        if self.fidelity.outputs is None:
            return
        got = [(o.name, o.comparison) for o in self.fidelity.outputs]
        want = [
            (s.name, EXACT if is_integer_datatype(s.datatype) else ARGMAX) for s in self.outputs
        ]
        if got != want:
            raise CardFormatError(
                f"malformed model card: fidelity.outputs {quote(got, 200)} do not match the "
                f"outputs {quote(want, 200)}"
            )

    def terms(self) -> bytes:
        """The card's part of the model commitment (see `serving_terms`)."""
        return serving_terms(self.inputs, self.outputs, self.fidelity)


def serving_terms(inputs: list[TensorSpec], outputs: list[TensorSpec], fidelity: Fidelity) -> bytes:
    """The promises a verifier holds a served prediction to, beyond the circuit itself: the
    tensors' names, datatypes and shapes, and the default tolerance between served and proven
    outputs. They are the provider's words, so the model commitment covers them: a provider who
    edits its card after a client pinned the commitment (to widen the tolerance, or to rename
    and reshape an output) no longer matches it."""
    return canonical_json(
        {
            "inputs": [asdict(spec) for spec in inputs],
            "outputs": [asdict(spec) for spec in outputs],
            "fidelity": fidelity.document(),
        }
    )
