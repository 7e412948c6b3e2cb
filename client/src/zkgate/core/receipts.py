"""Signed inference receipts.

A receipt makes the provider accountable before any proof exists: it binds the model commitment,
the input and the output of one request under the gateway's Ed25519 key. A client that keeps
receipts can later demand proofs for any of them (the contest protocol stands on this).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from zkgate.core.canonical import canonical_json
from zkgate.core.documents import DocumentError, Fields, parse_object, quote
from zkgate.core.signing import SignatureError, signing_bytes, verify_body

RECEIPT_FORMAT = "zkgate.receipt/1"


class ReceiptError(ValueError):
    """A receipt that is malformed or whose signature does not check."""


@dataclass(frozen=True)
class ReceiptBody:
    model: str
    commitment: str
    input_digest: str
    output_digest: str
    request_id: str
    issued_at_ms: int
    format: str = RECEIPT_FORMAT

    def signing_bytes(self) -> bytes:
        return signing_bytes(asdict(self))


_BODY_FIELDS = tuple(ReceiptBody.__dataclass_fields__)


@dataclass(frozen=True)
class Receipt:
    body: ReceiptBody
    signature: bytes

    def to_json(self) -> str:
        return canonical_json(
            {"body": asdict(self.body), "signature": self.signature.hex()}
        ).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> Receipt:
        try:
            return cls.from_fields(parse_object(text, what="receipt"))
        except DocumentError as exc:
            raise ReceiptError(f"malformed receipt: {exc}") from exc

    @classmethod
    def from_fields(cls, raw: Fields) -> Receipt:
        """For documents that carry receipts inside them (predictions, evidence bundles)."""
        try:
            body = raw.object("body").only(*_BODY_FIELDS)
            receipt = cls(
                body=ReceiptBody(
                    model=body.text("model"),
                    commitment=body.text("commitment"),
                    input_digest=body.text("input_digest"),
                    output_digest=body.text("output_digest"),
                    request_id=body.text("request_id"),
                    issued_at_ms=body.count("issued_at_ms"),
                    format=body.text("format"),
                ),
                signature=raw.hex_bytes("signature"),
            )
        except DocumentError as exc:
            raise ReceiptError(f"malformed receipt: {exc}") from exc
        if receipt.body.format != RECEIPT_FORMAT:
            raise ReceiptError(
                f"receipt format {quote(receipt.body.format)}, want {RECEIPT_FORMAT!r}"
            )
        return receipt

    def verify_signature(self, public_key: bytes) -> None:
        """Raises ReceiptError unless `public_key` (raw 32 bytes) signed this body."""
        try:
            verify_body(public_key, asdict(self.body), self.signature, "receipt")
        except SignatureError as exc:
            raise ReceiptError("receipt signature does not verify under the gateway key") from exc
