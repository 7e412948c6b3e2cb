"""Verified accuracy: the statement that fixes an evaluation, its sample, and its certificate.

The order is what makes the figure mean something. The provider's model commitment is fixed
and signed (with the time) before the consumer reveals anything, so the model cannot be fitted
to the test set; the consumer commits to its test set (a Merkle root) and to a secret nonce in
the same exchange, so it cannot swap in a set the model happens to do well or badly on; the
sample is drawn from the committed set with a seed of both nonces, so neither side chose which
examples are proven. Only then are the examples revealed and proven, with hashed inputs: the
proofs never publish the test set.

Statement issuing lives here, not in the gateway, for the same reason as `attestations`: both
sides and any third party must agree on the exact bytes without importing the gateway.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.array_rows import MAX_ROWS
from zkgate.core.attestations import AttestationError, SignedStatement, check_digest
from zkgate.core.batch_entry import are_felt_lists
from zkgate.core.canonical import canonical_json, framed_digest, text_by_digest
from zkgate.core.documents import DocumentError, Fields, parse_object, quote
from zkgate.core.protocols.contest import nonce_commitment
from zkgate.core.sampling import draw_sample

ACCURACY_FORMAT = "zkgate.accuracy/1"
CERTIFICATE_FORMAT = "zkgate.accuracy-certificate/1"
_SAMPLE_DOMAIN = "zkgate.accuracy.sample/1"
_NONCE_BYTES = 32
# eps = 1% at delta = 5% takes 14,979 proofs; a sample beyond this is a request for hours of
# proving, not an evaluation.
MAX_ACCURACY_SAMPLE = 20_000


class AccuracyFormatError(ValueError):
    """Evaluation parameters that make no sense, or a certificate that cannot be read."""


def predicted_class(values: npt.NDArray[Any]) -> int:
    """The class a classifier's output picks: the argmax over its values, flattened; a tie
    goes to the lowest index, so both sides always agree."""
    return int(np.argmax(values.reshape(-1)))


def hoeffding_sample_size(epsilon: float, delta: float) -> int:
    """The smallest n with P(true accuracy < measured - epsilon) <= delta by Hoeffding's
    inequality: n = ln(1/delta) / (2 epsilon^2), rounded up (rounding down would miss the
    guarantee)."""
    _check_fraction(epsilon, "epsilon")
    _check_fraction(delta, "delta")
    return math.ceil(math.log(1 / delta) / (2 * epsilon**2))


def hoeffding_epsilon(sample_size: int, delta: float) -> float:
    """The margin a sample of n gives at confidence 1 - delta: sqrt(ln(1/delta) / (2n))."""
    _check_fraction(delta, "delta")
    if sample_size < 1:
        raise AccuracyFormatError("a bound needs at least one proven example")
    return math.sqrt(math.log(1 / delta) / (2 * sample_size))


def _check_fraction(value: float, what: str) -> None:
    if not (isinstance(value, float | int) and 0 < value < 1):
        raise AccuracyFormatError(f"{what} must lie strictly between 0 and 1, got {value!r}")


@dataclass(frozen=True)
class AccuracyRequest:
    """What the consumer commits to before the gateway answers. delta is a decimal string so
    that the signed bytes are exact; it is fixed here, before any result, so nobody can shop
    for the confidence level afterwards."""

    model: str
    commitment: str
    batch_commitment: str
    test_set_commitment: str
    test_set_size: int
    sample_size: int
    delta: str
    client_nonce_sha256: str

    def check(self) -> None:
        try:
            for name in ("commitment", "batch_commitment", "test_set_commitment"):
                check_digest(getattr(self, name), name)
            check_digest(self.client_nonce_sha256, "client_nonce_sha256")
        except AttestationError as exc:
            raise AccuracyFormatError(str(exc)) from exc
        if not self.model:
            raise AccuracyFormatError("name the model to evaluate")
        if not 1 <= self.test_set_size <= MAX_ROWS:
            raise AccuracyFormatError(
                f"a test set holds 1 to {MAX_ROWS} examples, got {self.test_set_size}"
            )
        if not 1 <= self.sample_size <= min(self.test_set_size, MAX_ACCURACY_SAMPLE):
            raise AccuracyFormatError(
                f"sample size {self.sample_size} must lie between 1 and the test set size "
                f"{self.test_set_size} (and at most {MAX_ACCURACY_SAMPLE})"
            )
        self.delta_value()

    def delta_value(self) -> float:
        try:
            value = float(self.delta)
        except ValueError:
            raise AccuracyFormatError(f"delta {self.delta!r} is not a number") from None
        _check_fraction(value, "delta")
        return value


@dataclass(frozen=True)
class AccuracyStatement(SignedStatement, AccuracyRequest):
    """The gateway's signed acceptance of an evaluation: the consumer's request (every field of
    it), its own nonce, and the time, all before the test set is revealed. The model commitment
    in it is the one the gateway serves: it refuses to sign any other."""

    FORMAT: ClassVar[str] = ACCURACY_FORMAT
    gateway_nonce: str
    issued_at_ms: int

    def _check_fields(self) -> None:
        super()._check_fields()
        try:
            self.check()
        except AccuracyFormatError as exc:
            raise AttestationError(str(exc)) from exc
        check_digest(self.gateway_nonce, "AccuracyStatement.gateway_nonce")


def issue_accuracy_statement(
    issuer: Ed25519PrivateKey, request: AccuracyRequest, *, now_ms: int
) -> AccuracyStatement:
    """The gateway's side: a fresh nonce, the time, and its signature over the request."""
    request.check()
    return AccuracyStatement(
        issuer_public_key="",
        signature=b"",
        **asdict(request),
        gateway_nonce=os.urandom(_NONCE_BYTES).hex(),
        issued_at_ms=now_ms,
    ).signed_by(issuer)


def accuracy_sample(statement: AccuracyStatement, client_nonce: bytes) -> list[int]:
    """The positions in the committed test set that must be proven, in draw order."""
    if nonce_commitment(client_nonce) != statement.client_nonce_sha256:
        raise AccuracyFormatError("the revealed client nonce does not hash to the committed one")
    seed = framed_digest(
        _SAMPLE_DOMAIN,
        [
            bytes.fromhex(statement.test_set_commitment),
            bytes.fromhex(statement.gateway_nonce),
            client_nonce,
        ],
    )
    return draw_sample(bytes.fromhex(seed), statement.test_set_size, statement.sample_size)


@dataclass(frozen=True)
class CertificateEntry:
    """One sampled example: where it sits in the test set and in its batched proof, the label
    the provider read, the class it says was predicted, and the proven outputs (felts) whose
    Poseidon hashes the proof holds."""

    test_index: int
    label: int
    predicted: int
    proof_digest: str
    batch_index: int
    batch_size: int
    outputs: list[list[str]]


@dataclass(frozen=True)
class AccuracyCertificate:
    """The provider's claim (`correct` of the sampled examples) with everything needed to check
    it: the signed statement, the revealed nonce, and the proofs (keyed by their SHA-256, since
    the examples of one batch share a proof)."""

    statement: AccuracyStatement
    client_nonce: str
    correct: int
    entries: list[CertificateEntry]
    proofs: dict[str, str]

    @property
    def sample_size(self) -> int:
        return len(self.entries)

    @property
    def delta(self) -> float:
        return self.statement.delta_value()

    def proof(self, digest: str) -> bytes | None:
        return text_by_digest(self.proofs, digest)

    def to_json(self) -> str:
        return canonical_json(
            {
                "format": CERTIFICATE_FORMAT,
                "statement": json.loads(self.statement.to_json()),
                "client_nonce": self.client_nonce,
                "correct": self.correct,
                "entries": [asdict(entry) for entry in self.entries],
                "proofs": self.proofs,
            }
        ).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> AccuracyCertificate:
        try:
            raw = parse_object(text, what="accuracy certificate")
            found = raw.optional_text("format")
            if found != CERTIFICATE_FORMAT:
                raise AccuracyFormatError(
                    f"not an accuracy certificate: format {quote(found)}, "
                    f"want {CERTIFICATE_FORMAT!r}"
                )
            raw.only("format", "statement", "client_nonce", "correct", "entries", "proofs")
            return cls(
                statement=AccuracyStatement.from_fields(raw.object("statement")),
                client_nonce=raw.text("client_nonce"),
                correct=raw.count("correct"),
                entries=[_certificate_entry(entry) for entry in raw.objects("entries")],
                proofs=raw.string_map("proofs"),
            )
        except (DocumentError, AttestationError) as exc:
            raise AccuracyFormatError(f"malformed accuracy certificate: {exc}") from exc


def _certificate_entry(raw: Fields) -> CertificateEntry:
    raw.only(*CertificateEntry.__dataclass_fields__)
    outputs = raw.array("outputs")
    # A proof hashes each output tensor's felts; there is no hash of nothing to compare with.
    if not (are_felt_lists(outputs) and outputs and all(outputs)):
        raw.fail("outputs", "must be one non-empty list of felt strings per output tensor")
    return CertificateEntry(
        test_index=raw.count("test_index"),
        label=raw.count("label"),
        predicted=raw.count("predicted"),
        proof_digest=raw.text("proof_digest"),
        batch_index=raw.count("batch_index"),
        batch_size=raw.count("batch_size"),
        outputs=outputs,
    )
