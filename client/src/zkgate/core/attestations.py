"""Statements a gateway signs for proof-of-learning: training intents and commitment timestamps.

They live in the light client, not in `zkgate.pol`, because gateways issue them and dispute
parties check them without torch.

- A training intent fixes, before training starts, who trains (the owner's key), under which
  policy (its digest), and a fresh nonce. The training seed is derived from the signed intent, so
  the initial weights are unpredictable until the intent exists and cannot be chosen to sit near
  someone else's weights.
- A commitment timestamp says the gateway saw an owner's commitment (a checkpoint chain head, or a
  manifest digest) at a time. The owner signs its request, so nobody can timestamp commitments in
  another owner's name; the earliest timestamp settles ownership disputes.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar, Self

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.canonical import canonical_json, framed_digest, is_count
from zkgate.core.documents import DocumentError, Fields, parse_object
from zkgate.core.signing import (
    SignatureError,
    parse_public_key_hex,
    raw_public_key,
    sign_body,
    verify_body,
)

INTENT_FORMAT = "zkgate.pol.intent/1"
TIMESTAMP_FORMAT = "zkgate.pol.timestamp/1"
TIMESTAMP_REQUEST_FORMAT = "zkgate.pol.timestamp-request/1"
_SEED_DOMAIN = "zkgate.pol.seed/1"
_HEX_DIGEST_LENGTH = 64


class AttestationError(ValueError):
    """A statement that is malformed, of the wrong kind, or whose signature does not verify."""


@dataclass(frozen=True)
class SignedStatement:
    """A body of string and integer fields, its issuer's key among them, and a signature."""

    FORMAT: ClassVar[str]
    issuer_public_key: str
    signature: bytes

    def body(self) -> dict[str, Any]:
        fields = asdict(self)
        del fields["signature"]
        return {"format": self.FORMAT, **fields}

    def to_json(self) -> str:
        return canonical_json({"body": self.body(), "signature": self.signature.hex()}).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        try:
            return cls.from_fields(parse_object(text, what=cls.__name__))
        except DocumentError as exc:
            raise AttestationError(f"malformed {cls.__name__}: {exc}") from exc

    @classmethod
    def from_fields(cls, raw: Fields) -> Self:
        """For documents that carry a statement inside them (certificates, evidence). Each
        field is read at its declared type: `int` fields as non-negative integers, the others
        as strings."""
        try:
            body = raw.object("body")
            if body.optional_text("format") != cls.FORMAT:
                raise AttestationError(f"not a {cls.__name__}: want format {cls.FORMAT!r}")
            declared = [field for field in fields(cls) if field.name != "signature"]
            body.only("format", *(field.name for field in declared))
            values: dict[str, Any] = {
                field.name: (body.count if field.type == "int" else body.text)(field.name)
                for field in declared
            }
            statement = cls(signature=raw.hex_bytes("signature"), **values)
        except DocumentError as exc:
            raise AttestationError(f"malformed {cls.__name__}: {exc}") from exc
        statement._check_fields()
        return statement

    def _check_fields(self) -> None:
        """Fields declared `int` hold non-negative integers, all others strings: JSON would
        otherwise let a float or a boolean through where the signer meant neither."""
        for field in fields(self):
            if field.name == "signature":
                continue
            value = getattr(self, field.name)
            if field.type == "int":
                if not is_count(value):
                    raise AttestationError(
                        f"{type(self).__name__}.{field.name} must be a non-negative integer"
                    )
            elif not isinstance(value, str):
                raise AttestationError(f"{type(self).__name__}.{field.name} must be a string")
        for name in ("issuer_public_key", "owner_public_key"):
            value = getattr(self, name, None)
            if value is not None:
                try:
                    parse_public_key_hex(value, f"{type(self).__name__}.{name}")
                except SignatureError as exc:
                    raise AttestationError(str(exc)) from exc

    def signed_by(self, issuer: Ed25519PrivateKey) -> Self:
        """This statement, naming `issuer` and signed by it."""
        named = replace(self, issuer_public_key=raw_public_key(issuer).hex())
        return replace(named, signature=sign_body(issuer, named.body()))

    def verify(self) -> None:
        """Checks the signature under the issuer key the statement names. Whether that issuer is
        trusted is the caller's decision."""
        try:
            verify_body(
                bytes.fromhex(self.issuer_public_key),
                self.body(),
                self.signature,
                f"{type(self).__name__} from issuer {self.issuer_public_key[:16]}...",
            )
        except SignatureError as exc:
            raise AttestationError(str(exc)) from exc

    def verify_issued_by(self, issuer_public_key: bytes) -> None:
        """The signature verifies and the issuer is the one expected, not merely someone."""
        self.verify()
        if self.issuer_public_key != issuer_public_key.hex():
            raise AttestationError(
                f"{type(self).__name__} is signed by {self.issuer_public_key[:16]}..., not by "
                f"the gateway key {issuer_public_key.hex()[:16]}..."
            )


def require_signed_before_reveal(
    before: SignedStatement, returned: SignedStatement, what: str
) -> None:
    """A commit-reveal sample is fair only under the statement signed before the reveal. A
    gateway can sign as many statements as it likes; one it signed after seeing the nonce, and
    then carried in its result, could have been picked for a sample that suits it. So the
    party that revealed holds the result to the statement it had before revealing."""
    if returned != before:
        raise AttestationError(
            f"the {what} carries another statement than the one the gateway signed before the "
            "nonce was revealed: signed after the reveal, it could have been chosen for its "
            "sample"
        )


@dataclass(frozen=True)
class TrainingIntent(SignedStatement):
    FORMAT: ClassVar[str] = INTENT_FORMAT
    owner_public_key: str
    policy_digest: str
    nonce: str
    issued_at_ms: int

    @property
    def self_issued(self) -> bool:
        """Issued offline by the owner: the nonce and time are then the owner's own choice."""
        return self.issuer_public_key == self.owner_public_key

    def seed(self) -> bytes:
        """32 bytes every random choice of the training run derives from."""
        return bytes.fromhex(framed_digest(_SEED_DOMAIN, [canonical_json(self.body())]))

    def digest(self) -> str:
        return framed_digest(INTENT_FORMAT, [self.to_json().encode()])


@dataclass(frozen=True)
class CommitmentTimestamp(SignedStatement):
    FORMAT: ClassVar[str] = TIMESTAMP_FORMAT
    owner_public_key: str
    commitment: str
    issued_at_ms: int


def issue_training_intent(
    issuer: Ed25519PrivateKey, *, owner_public_key: str, policy_digest: str, now_ms: int
) -> TrainingIntent:
    """`issuer` is the gateway's key, or the owner's own key for an offline intent."""
    try:
        parse_public_key_hex(owner_public_key, "owner public key")
    except SignatureError as exc:
        raise AttestationError(str(exc)) from exc
    check_digest(policy_digest, "policy digest")
    return TrainingIntent(
        issuer_public_key="",
        signature=b"",
        owner_public_key=owner_public_key,
        policy_digest=policy_digest,
        nonce=os.urandom(32).hex(),
        issued_at_ms=now_ms,
    ).signed_by(issuer)


def timestamp_request_body(owner_public_key: str, commitment: str) -> dict[str, Any]:
    return {
        "format": TIMESTAMP_REQUEST_FORMAT,
        "owner_public_key": owner_public_key,
        "commitment": commitment,
    }


def sign_timestamp_request(owner: Ed25519PrivateKey, commitment: str) -> bytes:
    """The owner's proof that it, and not someone else, asks for this timestamp."""
    return sign_body(owner, timestamp_request_body(raw_public_key(owner).hex(), commitment))


def issue_commitment_timestamp(
    issuer: Ed25519PrivateKey,
    *,
    owner_public_key: str,
    commitment: str,
    request_signature: bytes,
    now_ms: int,
) -> CommitmentTimestamp:
    """Raises AttestationError unless the owner signed the request for this commitment."""
    check_digest(commitment, "commitment")
    try:
        owner = parse_public_key_hex(owner_public_key, "owner public key")
        verify_body(
            owner,
            timestamp_request_body(owner_public_key, commitment),
            request_signature,
            "timestamp request (sign it with the owner key it names)",
        )
    except SignatureError as exc:
        raise AttestationError(str(exc)) from exc
    return CommitmentTimestamp(
        issuer_public_key="",
        signature=b"",
        owner_public_key=owner_public_key,
        commitment=commitment,
        issued_at_ms=now_ms,
    ).signed_by(issuer)


def check_digest(value: str, what: str) -> None:
    try:
        valid = len(value) == _HEX_DIGEST_LENGTH and len(bytes.fromhex(value)) == 32
    except ValueError:
        valid = False
    if not valid:
        raise AttestationError(f"{what} must be 64 hex digits (SHA-256), got {value[:80]!r}")
