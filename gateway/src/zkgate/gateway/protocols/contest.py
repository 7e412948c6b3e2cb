"""The gateway's part in contests: it signs, with its identity key, the contest it accepts.

The gateway sees only digests (the receipt set's and the consumer's nonce's), never the receipts:
proving any receipt it signed is an obligation it already has, so it need not know which ones are
contested until the proof requests arrive. What it does decide is the deadline it signs up to,
since a timeout against a signed deadline counts against the provider: too short a deadline is
refused rather than accepted and then missed.
"""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.protocols.contest import (
    ContestError,
    ContestRequest,
    ContestStatement,
    issue_contest_statement,
)
from zkgate.gateway.errors import InvalidRequest

# A proof of a small model takes seconds; a floor keeps a consumer from asking for a deadline no
# prover could meet. The ceiling keeps every contest bounded in time.
MIN_CONTEST_DEADLINE_MS = 1_000
MAX_CONTEST_DEADLINE_MS = 7 * 24 * 3600 * 1000
# One contest's receipt set; the sample, not the set, is what costs proving time.
MAX_CONTEST_RECEIPTS = 1_000_000


class ContestNotary:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    def open(self, request: ContestRequest) -> ContestStatement:
        if not MIN_CONTEST_DEADLINE_MS <= request.deadline_ms <= MAX_CONTEST_DEADLINE_MS:
            raise InvalidRequest(
                f"contest refused: a deadline of {request.deadline_ms} ms is outside "
                f"[{MIN_CONTEST_DEADLINE_MS}, {MAX_CONTEST_DEADLINE_MS}] ms"
            )
        if request.receipt_count > MAX_CONTEST_RECEIPTS:
            raise InvalidRequest(
                f"contest refused: {request.receipt_count} receipts, at most "
                f"{MAX_CONTEST_RECEIPTS} per contest"
            )
        try:
            return issue_contest_statement(self._key, request, now_ms=time.time_ns() // 1_000_000)
        except ContestError as exc:
            raise InvalidRequest(f"contest refused: {exc}") from exc
