"""The contest protocol's statement and sample: which past receipts a provider must prove.

A consumer that kept its signed receipts contests k of them. The sample must be one that neither
side chose alone: if the provider chose, it would steer clear of receipts it tampered with; if the
consumer chose, a third party could not read a failure rate off the sample. So it is drawn by
commit-reveal. The consumer commits to a secret nonce (its SHA-256) and to the receipt set (a
digest), the gateway answers with a signed statement adding a fresh nonce of its own and the
deadline it accepts, and only then does the consumer reveal its nonce. The sample is a function of
the set digest and both nonces, so anyone holding the statement, the nonce and the receipts can
recompute it.

Statement issuing lives here, not in the gateway, for the same reason as `attestations`: both
sides and any third party must agree on the exact bytes without importing the gateway.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.attestations import AttestationError, SignedStatement, check_digest
from zkgate.core.canonical import framed_digest
from zkgate.core.receipts import Receipt
from zkgate.core.sampling import draw_sample

CONTEST_FORMAT = "zkgate.contest/1"
_RECEIPT_SET_DOMAIN = "zkgate.contest.receipts/1"
_SAMPLE_DOMAIN = "zkgate.contest.sample/1"
_NONCE_BYTES = 32


class ContestError(ValueError):
    """Contest parameters that make no sense, or a revealed nonce that is not the committed one."""


@dataclass(frozen=True)
class ContestRequest:
    """What the consumer commits to before the gateway answers."""

    receipt_set_digest: str
    receipt_count: int
    client_nonce_sha256: str
    sample_size: int
    deadline_ms: int

    def check(self) -> None:
        try:
            check_digest(self.receipt_set_digest, "receipt_set_digest")
            check_digest(self.client_nonce_sha256, "client_nonce_sha256")
        except AttestationError as exc:
            raise ContestError(str(exc)) from exc
        if self.receipt_count < 1:
            raise ContestError("a contest needs at least one receipt")
        if not 1 <= self.sample_size <= self.receipt_count:
            raise ContestError(
                f"sample size {self.sample_size} must lie between 1 and the receipt count "
                f"{self.receipt_count}"
            )
        if self.deadline_ms < 1:
            raise ContestError("the deadline must be a positive number of milliseconds")


@dataclass(frozen=True)
class ContestStatement(SignedStatement):
    """The gateway's signed acceptance of a contest: the consumer's commitments, its own nonce,
    and when the sampled proofs are due (`deadline_at_ms`, on the gateway's clock)."""

    FORMAT: ClassVar[str] = CONTEST_FORMAT
    receipt_set_digest: str
    receipt_count: int
    client_nonce_sha256: str
    sample_size: int
    deadline_ms: int
    gateway_nonce: str
    issued_at_ms: int
    deadline_at_ms: int

    def request(self) -> ContestRequest:
        return ContestRequest(
            receipt_set_digest=self.receipt_set_digest,
            receipt_count=self.receipt_count,
            client_nonce_sha256=self.client_nonce_sha256,
            sample_size=self.sample_size,
            deadline_ms=self.deadline_ms,
        )

    def _check_fields(self) -> None:
        super()._check_fields()
        try:
            self.request().check()
        except ContestError as exc:
            raise AttestationError(str(exc)) from exc
        check_digest(self.gateway_nonce, "ContestStatement.gateway_nonce")
        if self.deadline_at_ms != self.issued_at_ms + self.deadline_ms:
            raise AttestationError("ContestStatement.deadline_at_ms is not its time plus deadline")


def new_client_nonce() -> bytes:
    return os.urandom(_NONCE_BYTES)


def nonce_commitment(nonce: bytes) -> str:
    return hashlib.sha256(nonce).hexdigest()


def ordered_receipts(receipts: Sequence[Receipt]) -> list[Receipt]:
    """The order sample indices refer to: by canonical JSON, so it depends on no one's listing.
    Duplicates are refused: a receipt listed twice would count twice in the rate."""
    by_json = {receipt.to_json(): receipt for receipt in receipts}
    if len(by_json) != len(receipts):
        raise ContestError("the same receipt appears more than once in the contested set")
    return [by_json[text] for text in sorted(by_json)]


def receipt_set_digest(receipts: Sequence[Receipt]) -> str:
    return framed_digest(
        _RECEIPT_SET_DOMAIN, [r.to_json().encode("utf-8") for r in ordered_receipts(receipts)]
    )


def issue_contest_statement(
    issuer: Ed25519PrivateKey, request: ContestRequest, *, now_ms: int
) -> ContestStatement:
    """The gateway's side: a fresh nonce, the time, and its signature over the request."""
    request.check()
    return ContestStatement(
        issuer_public_key="",
        signature=b"",
        **asdict(request),
        gateway_nonce=os.urandom(_NONCE_BYTES).hex(),
        issued_at_ms=now_ms,
        deadline_at_ms=now_ms + request.deadline_ms,
    ).signed_by(issuer)


def contest_sample(statement: ContestStatement, client_nonce: bytes) -> list[int]:
    """k distinct indices into `ordered_receipts`, drawn from the set digest and both nonces."""
    if nonce_commitment(client_nonce) != statement.client_nonce_sha256:
        raise ContestError("the revealed client nonce does not hash to the committed one")
    seed = framed_digest(
        _SAMPLE_DOMAIN,
        [
            bytes.fromhex(statement.receipt_set_digest),
            bytes.fromhex(statement.gateway_nonce),
            client_nonce,
        ],
    )
    return draw_sample(bytes.fromhex(seed), statement.receipt_count, statement.sample_size)


def detection_probability(tamper_rate: float, sample_size: int) -> float:
    """The chance that a sample of k catches at least one tampered receipt when a fraction p of
    them were tampered with: 1 - (1 - p)^k. Drawing without replacement only raises it, so this
    is a lower bound."""
    if not 0.0 <= tamper_rate <= 1.0:
        raise ContestError(f"a tamper rate is a fraction in [0, 1], got {tamper_rate}")
    return 1.0 - (1.0 - tamper_rate) ** sample_size
