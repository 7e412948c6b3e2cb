"""The verification report: every figure behind a proof-of-learning decision.

A decision alone asks to be trusted; the report shows, per replayed segment, why it was chosen
and how far the replay landed from the record, next to the thresholds, so a reader can see the
margin as well as the verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from zkgate.core.canonical import canonical_json, sha256_hex

REPORT_FORMAT = "zkgate.pol.report/1"


@dataclass
class SegmentReport:
    index: int
    start_step: int
    end_step: int
    epoch: int
    # Why it was replayed: "first", "last", "top-q", "random".
    origins: list[str]
    logged_update_l2: float
    l1: float | None = None
    l2: float | None = None
    linf: float | None = None
    cosine: float | None = None
    # Replayed update size over logged update size; 1.0 for an honest segment.
    update_ratio: float | None = None
    state_linf: float | None = None
    passed: bool = False
    failures: list[str] = field(default_factory=list)


@dataclass
class LearningReport:
    accepted: bool = False
    # Why it was rejected, each readable on its own; empty when accepted.
    reasons: list[str] = field(default_factory=list)
    # The verifier refused to check the proof (a file unreadable, a claim over its limits, or
    # a failure of its own), as opposed to checking it and finding it does not hold: callers
    # report the two differently (the CLI exits 2, not 1).
    unverifiable: bool = False
    # Facts a reader should weigh that do not decide, such as a self-issued intent.
    notes: list[str] = field(default_factory=list)
    manifest_digest: str = ""
    owner_public_key: str = ""
    intent_issuer_public_key: str = ""
    intent_issued_at_ms: int | None = None
    earliest_timestamp_ms: int | None = None
    earliest_timestamp: dict[str, Any] | None = None
    # The last chain link: it commits to every checkpoint, the final (disputed) weights included.
    chain_head: str = ""
    # The earliest trusted timestamp over a commitment to the final trained state (the chain
    # head or the manifest): what disputes decide by. Link 0 commits to W0 = init(seed) alone
    # and takes no training, so a timestamp over it, or over any early link, shows nothing
    # about who had the trained model first.
    precedence_timestamp_ms: int | None = None
    precedence_timestamp: dict[str, Any] | None = None
    precedence_commitment: str = ""
    policy_digest: str = ""
    verifier_nonce: str = ""
    threads: int = 0
    torch_version: str = ""
    thresholds: dict[str, float] = field(default_factory=dict)
    # Honest replay noise the verifier measured itself (replay against replay at two thread
    # counts), and the loosest thresholds it accepts because of it.
    measured_noise: dict[str, float] = field(default_factory=dict)
    ceilings: dict[str, float] = field(default_factory=dict)
    total_steps: int = 0
    segments_total: int = 0
    replayed_steps: int = 0
    segments: list[SegmentReport] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    format: str = REPORT_FORMAT

    def reject(self, reason: str) -> None:
        self.reasons.append(reason)

    def cannot_verify(self, reason: str) -> None:
        self.unverifiable = True
        self.reasons.append(f"not verified: {reason}")

    def to_json_obj(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return canonical_json(self.to_json_obj()).decode()

    def digest(self) -> str:
        return sha256_hex(self.to_json().encode())

    def decision(self) -> str:
        if self.accepted:
            return "ACCEPTED"
        return "NOT VERIFIED" if self.unverifiable else "REJECTED"

    def summary(self) -> str:
        lines = [
            f"decision: {self.decision()}",
            f"manifest: {self.manifest_digest}",
            f"owner:    {self.owner_public_key}",
            f"replayed: {len(self.segments)} of {self.segments_total} segments "
            f"({self.replayed_steps} of {self.total_steps} steps)",
        ]
        lines += [f"reason:   {reason}" for reason in self.reasons]
        lines += [f"note:     {note}" for note in self.notes]
        return "\n".join(lines)


def preview(values: list[int]) -> str:
    """The first few of a list of steps or indices: a reason stays one readable line however
    many there are."""
    shown = ", ".join(str(v) for v in values[:6])
    return shown + (", ..." if len(values) > 6 else "")
