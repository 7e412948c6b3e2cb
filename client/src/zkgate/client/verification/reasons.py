"""Why a proof check failed: one Reason per check, so callers can tell the failures apart."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum, auto

from zkgate.core.reasoned_error import ReasonedError


class Reason(StrEnum):
    INVALID_PROOF = auto()
    COMMITMENT_MISMATCH = auto()
    INPUT_MISMATCH = auto()
    OUTPUT_OUT_OF_TOLERANCE = auto()
    BAD_RECEIPT_SIGNATURE = auto()
    RECEIPT_MISMATCH = auto()
    INSECURE_SRS = auto()
    # A batched proof's entry that does not fit: outputs not the ones proven there, an index
    # outside the batch. (An entry that hashes another input is an INPUT_MISMATCH.)
    ENTRY_MISMATCH = auto()
    # NaN or an infinity in an input or a served output: ezkl reads NaN as 0, so a proof would
    # be of another input, and no tolerance holds an infinite output to anything.
    NON_FINITE = auto()
    # An input too large for the circuit's fixed-point grid: no proof can be of it.
    INPUT_OUT_OF_RANGE = auto()
    # Served tensors whose names, datatypes, shapes or order are not the committed signature.
    SIGNATURE_MISMATCH = auto()


class WarningCheck(str):
    """A check line that passed only because the caller waived a requirement (an untrusted SRS
    accepted under allow_insecure_srs). It is still a `str` in every `checks` list, so callers
    that only read the text are unchanged, but the CLI shows it as a warning, never as `ok`."""

    __slots__ = ()


class VerificationError(ReasonedError):
    reason: Reason

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(reason, detail)


# Builds the error of one Reason from a detail, for helpers shared by checks of several Reasons.
FailureFactory = Callable[[str], VerificationError]


def abbreviated(hex_digest: str) -> str:
    """A digest's first 16 digits, as the checks' descriptions name it."""
    return f"{hex_digest[:16]}…"
