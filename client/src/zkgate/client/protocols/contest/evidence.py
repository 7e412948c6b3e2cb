"""Evidence that a provider did not prove a contested receipt, checkable by anyone.

A bundle holds everything the provider signed (the contest statement and every receipt of the
set), the consumer's revealed nonce, the contested prediction with the inputs that were sent to
ask for its proof, and what happened: a refusal (its gRPC code and text) or a timeout.

What a check establishes: the gateway accepted this contest and its deadline; the receipt set is
the one it was committed to and was issued by the gateway; the sample was drawn fairly and holds
this receipt; the inputs sent are the ones the receipt signed. What it cannot establish: the
refusal text and the times are the consumer's word, since a provider that will not prove a receipt
will not sign its refusal either. The bundle therefore shifts the burden: anyone may ask the
provider for the proof of that receipt with those inputs, and only a proof that verifies answers
the charge. A proof that was delivered and rejected is no evidence here: it carries no signature,
so the consumer could have forged it; the same request, replayed, reproduces that outcome instead.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from enum import StrEnum, auto

from zkgate.core.attestations import AttestationError
from zkgate.core.canonical import canonical_json
from zkgate.core.documents import DocumentError, Fields, parse_object, quote
from zkgate.core.prediction import Prediction, PredictionFormatError
from zkgate.core.protocols.contest import (
    ContestError,
    ContestStatement,
    contest_sample,
    ordered_receipts,
    receipt_set_digest,
)
from zkgate.core.reasoned_error import ReasonedError
from zkgate.core.receipts import Receipt, ReceiptError

EVIDENCE_FORMAT = "zkgate.contest-evidence/1"


class FailureKind(StrEnum):
    REFUSED = auto()
    TIMED_OUT = auto()


@dataclass(frozen=True)
class Failure:
    """`at_ms`: when the consumer saw the refusal, or gave up after the deadline (its clock).
    `code` and `message`: the refusal's gRPC status, empty for a timeout."""

    kind: FailureKind
    at_ms: int
    code: str = ""
    message: str = ""


class EvidenceReason(StrEnum):
    MALFORMED = auto()
    WRONG_ISSUER = auto()
    BAD_SIGNATURE = auto()
    RECEIPT_SET_MISMATCH = auto()
    NONCE_MISMATCH = auto()
    NOT_SAMPLED = auto()
    PREDICTION_MISMATCH = auto()
    # A timeout stamped before the deadline, or a refusal stamped before the contest opened.
    BAD_TIME = auto()


class EvidenceError(ReasonedError):
    reason: EvidenceReason

    def __init__(self, reason: EvidenceReason, detail: str) -> None:
        super().__init__(reason, detail)


@dataclass(frozen=True)
class EvidenceBundle:
    statement: ContestStatement
    client_nonce: bytes
    receipts: list[Receipt]
    prediction: Prediction
    failure: Failure

    def to_json(self) -> str:
        return canonical_json(
            {
                "format": EVIDENCE_FORMAT,
                "statement": json.loads(self.statement.to_json()),
                "client_nonce": base64.b64encode(self.client_nonce).decode("ascii"),
                "receipts": [json.loads(r.to_json()) for r in self.receipts],
                "prediction": json.loads(self.prediction.to_json()),
                "failure": {
                    "kind": str(self.failure.kind),
                    "at_ms": self.failure.at_ms,
                    "code": self.failure.code,
                    "message": self.failure.message,
                },
            }
        ).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> EvidenceBundle:
        try:
            raw = parse_object(text, what="contest evidence bundle")
            found = raw.optional_text("format")
            if found != EVIDENCE_FORMAT:
                raise DocumentError(f"format {quote(found)}, want {EVIDENCE_FORMAT!r}")
            return cls(
                statement=ContestStatement.from_fields(raw.object("statement")),
                client_nonce=raw.base64_bytes("client_nonce"),
                receipts=[Receipt.from_fields(r) for r in raw.objects("receipts")],
                prediction=Prediction.from_fields(raw.object("prediction")),
                failure=_read_failure(raw.object("failure")),
            )
        except (DocumentError, AttestationError, ReceiptError, PredictionFormatError) as exc:
            raise EvidenceError(
                EvidenceReason.MALFORMED, f"not a contest evidence bundle: {exc}"
            ) from exc


def _read_failure(raw: Fields) -> Failure:
    kind = raw.text("kind")
    if kind not in set(FailureKind):
        raw.fail("kind", f"must be one of {[str(k) for k in FailureKind]}, not {quote(kind)}")
    return Failure(
        kind=FailureKind(kind),
        at_ms=raw.integer("at_ms"),
        code=raw.text("code"),
        message=raw.text("message"),
    )


def check_evidence(bundle: EvidenceBundle, gateway_public_key: bytes) -> list[str]:
    """Raises EvidenceError at the first check that fails; returns the checks made otherwise.
    `gateway_public_key`: the provider's identity key (raw 32 bytes), pinned by whoever judges."""
    statement = bundle.statement
    if statement.issuer_public_key != gateway_public_key.hex():
        raise EvidenceError(
            EvidenceReason.WRONG_ISSUER,
            f"the contest statement names issuer {statement.issuer_public_key}, not the "
            f"gateway key {gateway_public_key.hex()}",
        )
    try:
        statement.verify()
    except AttestationError as exc:
        raise EvidenceError(EvidenceReason.BAD_SIGNATURE, f"contest statement: {exc}") from exc
    for receipt in bundle.receipts:
        try:
            receipt.verify_signature(gateway_public_key)
        except ReceiptError as exc:
            raise EvidenceError(
                EvidenceReason.BAD_SIGNATURE, f"receipt {receipt.body.request_id!r}: {exc}"
            ) from exc
    checks = [
        "the gateway key signed the contest statement and every receipt of the set",
        *_check_receipt_set(bundle),
    ]
    try:
        sample = contest_sample(statement, bundle.client_nonce)
    except ContestError as exc:
        raise EvidenceError(EvidenceReason.NONCE_MISMATCH, str(exc)) from exc
    index = ordered_receipts(bundle.receipts).index(bundle.prediction.receipt)
    if index not in sample:
        raise EvidenceError(
            EvidenceReason.NOT_SAMPLED,
            f"the contested receipt is number {index} of the set, the sample is {sample}",
        )
    checks.append(f"the sample recomputes from both nonces as {sample} and holds receipt {index}")
    checks.append(_check_prediction(bundle.prediction))
    checks.append(_check_failure(bundle.failure, statement))
    return checks


def _check_receipt_set(bundle: EvidenceBundle) -> list[str]:
    statement = bundle.statement
    try:
        digest = receipt_set_digest(bundle.receipts)
    except ContestError as exc:
        raise EvidenceError(EvidenceReason.RECEIPT_SET_MISMATCH, str(exc)) from exc
    if (digest, len(bundle.receipts)) != (statement.receipt_set_digest, statement.receipt_count):
        raise EvidenceError(
            EvidenceReason.RECEIPT_SET_MISMATCH,
            f"the {len(bundle.receipts)} receipts hash to {digest}; the contest was opened over "
            f"{statement.receipt_count} hashing to {statement.receipt_set_digest}",
        )
    if bundle.prediction.receipt not in bundle.receipts:
        raise EvidenceError(
            EvidenceReason.RECEIPT_SET_MISMATCH, "the contested receipt is not in the set"
        )
    return [f"the {len(bundle.receipts)} receipts are the set the contest was opened over"]


def _check_prediction(prediction: Prediction) -> str:
    """The request sent for the proof is the one the receipt answered, so a refusal cannot be
    blamed on the consumer sending other inputs."""
    mismatches = [what for what, _, _ in prediction.receipt_disagreements()]
    if mismatches:
        raise EvidenceError(
            EvidenceReason.PREDICTION_MISMATCH,
            f"the contested prediction differs from its receipt in: {', '.join(mismatches)}",
        )
    return "the inputs and outputs kept for the contested receipt hash to its signed digests"


def _check_failure(failure: Failure, statement: ContestStatement) -> str:
    if failure.kind == FailureKind.TIMED_OUT:
        if failure.at_ms < statement.deadline_at_ms:
            raise EvidenceError(
                EvidenceReason.BAD_TIME,
                f"the timeout is stamped {failure.at_ms} ms, before the deadline "
                f"{statement.deadline_at_ms} ms",
            )
        return (
            f"no proof by the deadline the gateway signed ({statement.deadline_at_ms} ms); "
            f"given up at {failure.at_ms} ms (the consumer's clock)"
        )
    if failure.at_ms < statement.issued_at_ms:
        raise EvidenceError(
            EvidenceReason.BAD_TIME,
            f"the refusal is stamped {failure.at_ms} ms, before the contest opened at "
            f"{statement.issued_at_ms} ms",
        )
    return f"refused with {failure.code}: {failure.message} (the consumer's report)"
