"""Trustless retrieval: the statements that fix a dataset and an answer, and the answer itself.

The order is what makes an answer checkable. The responder commits to its dataset (a Merkle
root, signed with the time) before any predicate is known, so it cannot shape the data to a
query. The requester then sends a predicate model and the hash of a secret nonce; the responder
signs its answer (which records match) before the nonce is revealed; only then is the sample of
left-out records drawn, from both, and proven not to match. A responder that left out matching
records cannot know which of them will be checked.

Issuing lives here, not in the gateway, for the same reason as `attestations`: requester,
responder and any third party must agree on the exact signed bytes without the gateway's code.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.array_rows import MAX_ROWS
from zkgate.core.attestations import AttestationError, SignedStatement, check_digest
from zkgate.core.canonical import canonical_json, framed_digest, text_by_digest
from zkgate.core.dataset import Dataset
from zkgate.core.documents import DocumentError, Fields, parse_object
from zkgate.core.protocols.contest import nonce_commitment
from zkgate.core.protocols.limits import MAX_RETRIEVAL_PROOFS
from zkgate.core.sampling import draw_sample

DATASET_FORMAT = "zkgate.retrieval.dataset/1"
RETRIEVAL_FORMAT = "zkgate.retrieval.answer/1"
RESULT_FORMAT = "zkgate.retrieval.result/1"
REQUESTER_RECORD_FORMAT = "zkgate.retrieval.requester-record/1"
_SAMPLE_DOMAIN = "zkgate.retrieval.sample/1"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class RetrievalFormatError(ValueError):
    """Retrieval parameters that make no sense, or a result that cannot be read."""


def omission_sample_size(omission_rate: float, confidence: float) -> int:
    """The smallest k with 1 - (1 - p)^k >= confidence: how many left-out records to check so
    that omitting a fraction p of them is caught with that probability."""
    if not (0 < omission_rate < 1 and 0 < confidence < 1):
        raise RetrievalFormatError("omission rate and confidence lie strictly between 0 and 1")
    return math.ceil(math.log(1 - confidence) / math.log(1 - omission_rate))


def _shape_text(shape: Sequence[int]) -> str:
    return ",".join(str(int(d)) for d in shape)


def _parse_numbers(text: str, what: str) -> list[int]:
    """Comma-separated ASCII decimals without leading zeros: one spelling per list, so signed
    bytes are never ambiguous (and `int` never meets a digit it cannot read, such as "²")."""
    parts = text.split(",") if text else []
    if not all(_DECIMAL.fullmatch(part) for part in parts):
        raise RetrievalFormatError(
            f"{what} must be comma-separated decimals without leading zeros, got {text[:80]!r}"
        )
    return [int(part) for part in parts]


def _parse_indices(text: str, what: str) -> list[int]:
    """Ascending distinct positions: a set, in its one order."""
    indices = _parse_numbers(text, what)
    if any(a >= b for a, b in pairwise(indices)):
        raise RetrievalFormatError(f"{what} must be strictly ascending")
    return indices


def _parse_shape(text: str) -> list[int]:
    dims = _parse_numbers(text, "record shape")
    if not dims or 0 in dims:
        raise RetrievalFormatError(f"record shape {text!r} must be positive dimensions")
    return dims


@dataclass(frozen=True)
class DatasetStatement(SignedStatement):
    """The responder's signed commitment to a dataset: its root, size and record shape (as
    comma-separated dimensions), at a time before any predicate was seen."""

    FORMAT: ClassVar[str] = DATASET_FORMAT
    name: str
    root: str
    size: int
    record_shape: str
    issued_at_ms: int

    def shape(self) -> list[int]:
        return _parse_shape(self.record_shape)

    def _check_fields(self) -> None:
        super()._check_fields()
        check_digest(self.root, "DatasetStatement.root")
        if not 1 <= self.size <= MAX_ROWS:
            raise AttestationError(f"DatasetStatement.size must lie in [1, {MAX_ROWS}]")
        try:
            self.shape()
        except RetrievalFormatError as exc:
            raise AttestationError(str(exc)) from exc


def issue_dataset_statement(
    issuer: Ed25519PrivateKey, name: str, dataset: Dataset, *, now_ms: int
) -> DatasetStatement:
    return DatasetStatement(
        issuer_public_key="",
        signature=b"",
        name=name,
        root=dataset.commitment(),
        size=len(dataset),
        record_shape=_shape_text(dataset.record_shape),
        issued_at_ms=now_ms,
    ).signed_by(issuer)


@dataclass(frozen=True)
class RetrievalRequest:
    """What the requester fixes before the responder answers: which committed dataset, which
    predicate circuit (a model it registered and rebuilt), how many left-out records to check,
    and the hash of its secret nonce."""

    dataset_root: str
    dataset_size: int
    predicate_model: str
    predicate_commitment: str
    sample_size: int
    client_nonce_sha256: str

    def check(self) -> None:
        try:
            check_digest(self.dataset_root, "dataset_root")
            check_digest(self.predicate_commitment, "predicate_commitment")
            check_digest(self.client_nonce_sha256, "client_nonce_sha256")
        except AttestationError as exc:
            raise RetrievalFormatError(str(exc)) from exc
        if not self.predicate_model:
            raise RetrievalFormatError("name the predicate model")
        if not 1 <= self.dataset_size <= MAX_ROWS:
            raise RetrievalFormatError(f"a dataset holds 1 to {MAX_ROWS} records")
        if not 0 <= self.sample_size <= min(self.dataset_size, MAX_RETRIEVAL_PROOFS):
            raise RetrievalFormatError(
                f"sample size {self.sample_size} must lie between 0 and the dataset size "
                f"{self.dataset_size} (and at most {MAX_RETRIEVAL_PROOFS})"
            )


@dataclass(frozen=True)
class RetrievalStatement(SignedStatement, RetrievalRequest):
    """The responder's signed answer, given before the requester's nonce is revealed: every
    field of the request, and the positions (`matches`, ascending, comma-separated) of the
    records it says the predicate holds for. Every other position is a claimed non-match."""

    FORMAT: ClassVar[str] = RETRIEVAL_FORMAT
    matches: str
    issued_at_ms: int

    def match_indices(self) -> list[int]:
        return _parse_indices(self.matches, "matches")

    def left_out(self) -> list[int]:
        matched = set(self.match_indices())
        return [i for i in range(self.dataset_size) if i not in matched]

    def sample_count(self) -> int:
        """The requested sample, or every left-out record when there are fewer."""
        return min(self.sample_size, self.dataset_size - len(self.match_indices()))

    def proof_count(self) -> int:
        """Proofs the answer calls for: every match and every drawn left-out record."""
        return len(self.match_indices()) + self.sample_count()

    def _check_fields(self) -> None:
        super()._check_fields()
        try:
            self.check()
            matches = self.match_indices()
        except RetrievalFormatError as exc:
            raise AttestationError(str(exc)) from exc
        if matches and matches[-1] >= self.dataset_size:
            raise AttestationError("matches name a position outside the dataset")
        if self.proof_count() > MAX_RETRIEVAL_PROOFS:
            raise AttestationError(f"an answer proves at most {MAX_RETRIEVAL_PROOFS} records")


def issue_retrieval_statement(
    issuer: Ed25519PrivateKey, request: RetrievalRequest, matches: Sequence[int], *, now_ms: int
) -> RetrievalStatement:
    request.check()
    return RetrievalStatement(
        issuer_public_key="",
        signature=b"",
        **asdict(request),
        matches=",".join(str(i) for i in sorted(set(matches))),
        issued_at_ms=now_ms,
    ).signed_by(issuer)


def retrieval_sample(statement: RetrievalStatement, client_nonce: bytes) -> list[int]:
    """The left-out positions that must be proven not to match, in draw order. The seed covers
    the signed answer and the nonce revealed after it, so neither side chose the sample."""
    if nonce_commitment(client_nonce) != statement.client_nonce_sha256:
        raise RetrievalFormatError("the revealed client nonce does not hash to the committed one")
    seed = framed_digest(_SAMPLE_DOMAIN, [statement.to_json().encode("utf-8"), client_nonce])
    left_out = statement.left_out()
    positions = draw_sample(bytes.fromhex(seed), len(left_out), statement.sample_count())
    return [left_out[p] for p in positions]


@dataclass(frozen=True)
class RetrievedRecord:
    """One proven record: its position, whether the answer claims it matches, its float32
    bytes (little-endian, hex), its Merkle inclusion path (sibling hashes, hex, leaf upwards)
    and the SHA-256 of the predicate's proof on it."""

    index: int
    matched: bool
    data: str
    path: list[str]
    proof_digest: str

    def array(self, shape: Sequence[int]) -> npt.NDArray[np.float32]:
        """Raises ValueError when the bytes do not fill the shape."""
        raw = bytes.fromhex(self.data)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(tuple(shape))


@dataclass(frozen=True)
class RetrievalResult:
    """The responder's whole answer: the signed statement, the revealed nonce, the matching and
    sampled records, and the proofs (keyed by their SHA-256). Nothing in it is believed until
    `verify_retrieval` has checked it against the dataset statement, the predicate and the
    requester's own record."""

    statement: RetrievalStatement
    client_nonce: str
    records: list[RetrievedRecord]
    proofs: dict[str, str]

    def proof(self, digest: str) -> bytes | None:
        return text_by_digest(self.proofs, digest)

    def matched_records(self) -> list[RetrievedRecord]:
        return [record for record in self.records if record.matched]

    def to_json(self) -> str:
        return canonical_json(
            {
                "format": RESULT_FORMAT,
                "statement": json.loads(self.statement.to_json()),
                "client_nonce": self.client_nonce,
                "records": [asdict(record) for record in self.records],
                "proofs": self.proofs,
            }
        ).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> RetrievalResult:
        try:
            raw = _read_document(text, RESULT_FORMAT, "retrieval result")
            raw.only("format", "statement", "client_nonce", "records", "proofs")
            return cls(
                statement=_retrieval_statement(raw),
                client_nonce=raw.text("client_nonce"),
                records=[_retrieved_record(record) for record in raw.objects("records")],
                proofs=raw.string_map("proofs"),
            )
        except DocumentError as exc:
            raise RetrievalFormatError(f"malformed retrieval result: {exc}") from exc


@dataclass(frozen=True)
class RequesterRecord:
    """What the requester held before it revealed its nonce: the answer the gateway signed
    then, the nonce, how many left-out records it asked to be checked, and the scale it asked
    its predicate to be compiled at. Whoever holds the gateway's key can sign another answer
    once the nonce is known (one whose draw misses an omission, or asks for no sample at all),
    so a result is checked against this record, which only the requester writes."""

    statement: RetrievalStatement
    client_nonce: str
    sample_size: int
    scale: int

    def to_json(self) -> str:
        return canonical_json(
            {
                "format": REQUESTER_RECORD_FORMAT,
                "statement": json.loads(self.statement.to_json()),
                "client_nonce": self.client_nonce,
                "sample_size": self.sample_size,
                "scale": self.scale,
            }
        ).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> RequesterRecord:
        try:
            raw = _read_document(text, REQUESTER_RECORD_FORMAT, "requester record")
            raw.only("format", "statement", "client_nonce", "sample_size", "scale")
            return cls(
                statement=_retrieval_statement(raw),
                client_nonce=raw.text("client_nonce"),
                sample_size=raw.count("sample_size"),
                scale=raw.count("scale"),
            )
        except DocumentError as exc:
            raise RetrievalFormatError(f"malformed requester record: {exc}") from exc


@dataclass(frozen=True)
class Retrieval:
    """A retrieval as the requester ends it: its own record, and the responder's result."""

    record: RequesterRecord
    result: RetrievalResult

    @property
    def statement(self) -> RetrievalStatement:
        """The answer signed before the reveal."""
        return self.record.statement

    @property
    def client_nonce(self) -> str:
        """The requester's nonce, hex."""
        return self.record.client_nonce


def _read_document(text: str | bytes, document_format: str, what: str) -> Fields:
    raw = parse_object(text, what=what)
    if raw.optional_text("format") != document_format:
        raise DocumentError(f"not a {what}: want format {document_format!r}")
    return raw


def _retrieval_statement(raw: Fields) -> RetrievalStatement:
    """The signed answer a document carries; the document's depth is already bounded."""
    try:
        return RetrievalStatement.from_json(json.dumps(raw.object("statement").raw))
    except AttestationError as exc:
        raise DocumentError(f"{raw.what}.statement: {exc}") from exc


def _retrieved_record(raw: Fields) -> RetrievedRecord:
    raw.only("index", "matched", "data", "path", "proof_digest")
    return RetrievedRecord(
        index=raw.count("index"),
        matched=raw.boolean("matched"),
        data=raw.text("data"),
        path=raw.texts("path"),
        proof_digest=raw.text("proof_digest"),
    )
