"""Running a contest against a gateway: open it, reveal, ask for the sampled proofs, judge them.

Each sampled receipt ends in one of four ways. Verified: a proof came and passed every check of
`verify`. Rejected: a proof came and failed, with the VerificationError's reason (a proof of
another input is INPUT_MISMATCH, for instance). Refused: the gateway answered the request or the
job with an error. Timed out: no proof by the deadline the gateway signed. The last two come with
an EvidenceBundle that a third party can check (`evidence.check_evidence`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum, auto
from typing import Protocol

import grpc

from zkgate.client.proof_jobs import ProofJobFailed, batch_entry_of
from zkgate.client.protocols.contest.evidence import EvidenceBundle, Failure, FailureKind
from zkgate.client.verification.prediction import VerifiedPrediction
from zkgate.client.verification.reasons import Reason, VerificationError
from zkgate.core.batch_entry import BatchEntry
from zkgate.core.prediction import Prediction
from zkgate.core.protocols.contest import (
    ContestRequest,
    ContestStatement,
    contest_sample,
    detection_probability,
    new_client_nonce,
    nonce_commitment,
    ordered_receipts,
    receipt_set_digest,
)
from zkgate.wire import zkgate_pb2 as pb

# After the deadline, a job still gets this long to be read: its proof may already be stored.
_LAST_LOOK_SECONDS = 0.5


class OutcomeKind(StrEnum):
    VERIFIED = auto()
    REJECTED = auto()
    REFUSED = auto()
    TIMED_OUT = auto()


@dataclass(frozen=True)
class SampleOutcome:
    index: int
    prediction: Prediction
    kind: OutcomeKind
    detail: str
    # For REJECTED: why the proof failed.
    reason: Reason | None = None
    # For REFUSED and TIMED_OUT: what a third party can check.
    evidence: EvidenceBundle | None = None


@dataclass(frozen=True)
class ContestResult:
    statement: ContestStatement
    client_nonce: bytes
    # Indices into the receipts ordered by `contest.ordered_receipts`, in draw order.
    sample: list[int]
    outcomes: list[SampleOutcome]
    tamper_rate: float
    # 1 - (1 - tamper_rate)^k: how likely this contest was to catch that rate of tampering.
    detection_probability: float

    @property
    def accepted(self) -> bool:
        return all(outcome.kind == OutcomeKind.VERIFIED for outcome in self.outcomes)


class ProofSource(Protocol):
    """Where the sampled proofs come from: the Client, or a stand-in that replays a hostile
    gateway's answers through the same judging path."""

    def request_proof(self, prediction: Prediction) -> str: ...

    def wait_for_job(self, job_id: str, *, timeout: float) -> pb.Job: ...


class ContestClient(ProofSource, Protocol):
    """What a contest needs of a client: the gateway's signature on its terms, and the checks of
    `Client.verify` (under the bundle and identity key the gateway serves)."""

    def open_contest(self, request: ContestRequest) -> ContestStatement: ...

    def verify(
        self,
        prediction: Prediction,
        proof: bytes,
        *,
        pinned_commitment: str,
        allow_insecure_srs: bool = False,
        trusted_srs_identities: Collection[str] = (),
        batch_entry: BatchEntry | None = None,
        pinned_batch_commitment: str | None = None,
    ) -> VerifiedPrediction: ...


@dataclass(frozen=True)
class ContestOptions:
    """How proofs are judged; the same options `Client.verify` takes."""

    pinned_commitment: str
    allow_insecure_srs: bool = False
    trusted_srs_identities: Collection[str] = ()
    pinned_batch_commitment: str | None = None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _SampleJudge:
    """Asks for each sampled receipt's proof and judges what comes back, or does not."""

    def __init__(
        self,
        client: ContestClient,
        proofs: ProofSource,
        options: ContestOptions,
        statement: ContestStatement,
        client_nonce: bytes,
        receipts: list[Prediction],
    ) -> None:
        self._client = client
        self._proofs = proofs
        self._options = options
        self._statement = statement
        self._client_nonce = client_nonce
        self._ordered = receipts

    def request(self, index: int) -> str | SampleOutcome:
        """The proof job's id, or the refusal."""
        try:
            return self._proofs.request_proof(self._ordered[index])
        except grpc.RpcError as exc:
            return self._refused(index, exc.code().name, exc.details() or "")

    def settle(self, index: int, job_id: str, due: float) -> SampleOutcome:
        prediction = self._ordered[index]
        try:
            job = self._proofs.wait_for_job(
                job_id, timeout=max(due - time.time(), _LAST_LOOK_SECONDS)
            )
        except ProofJobFailed as exc:
            state = pb.JobState.Name(exc.job.state)
            return self._refused(index, state, exc.job.error or "the proof job failed")
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                return self._refused(index, exc.code().name, exc.details() or "")
            return self._timed_out(index, due)
        try:
            verified = self._client.verify(
                prediction,
                job.proof,
                pinned_commitment=self._options.pinned_commitment,
                allow_insecure_srs=self._options.allow_insecure_srs,
                trusted_srs_identities=self._options.trusted_srs_identities,
                batch_entry=batch_entry_of(job),
                pinned_batch_commitment=self._options.pinned_batch_commitment,
            )
        except VerificationError as exc:
            return SampleOutcome(
                index, prediction, OutcomeKind.REJECTED, exc.detail, reason=exc.reason
            )
        return SampleOutcome(
            index,
            prediction,
            OutcomeKind.VERIFIED,
            f"proof verified; max |served - proven| {verified.max_abs_diff:.3g}",
        )

    def _refused(self, index: int, code: str, message: str) -> SampleOutcome:
        failure = Failure(FailureKind.REFUSED, _now_ms(), code, message)
        return self._failed(index, failure, f"refused: {code}: {message}")

    def _timed_out(self, index: int, due: float) -> SampleOutcome:
        # Stamped no earlier than the deadline, whatever the clocks' rounding.
        at_ms = max(_now_ms(), math.ceil(due * 1000))
        detail = f"no proof by the deadline ({self._statement.deadline_at_ms} ms)"
        return self._failed(index, Failure(FailureKind.TIMED_OUT, at_ms), detail)

    def _failed(self, index: int, failure: Failure, detail: str) -> SampleOutcome:
        prediction = self._ordered[index]
        evidence = EvidenceBundle(
            statement=self._statement,
            client_nonce=self._client_nonce,
            receipts=[p.receipt for p in self._ordered],
            prediction=prediction,
            failure=failure,
        )
        kind = OutcomeKind.REFUSED if failure.kind == FailureKind.REFUSED else OutcomeKind.TIMED_OUT
        return SampleOutcome(index, prediction, kind, detail, evidence=evidence)


def run_contest(
    client: ContestClient,
    contested: Sequence[Prediction],
    k: int,
    *,
    options: ContestOptions,
    deadline_seconds: float,
    tamper_rate: float,
    proofs: ProofSource | None = None,
) -> ContestResult:
    """`contested`: the saved predictions (receipt plus the inputs and outputs kept)."""
    probability = detection_probability(tamper_rate, k)
    by_receipt = {p.receipt: p for p in contested}
    receipts = ordered_receipts([p.receipt for p in contested])
    ordered = [by_receipt[r] for r in receipts]
    client_nonce = new_client_nonce()
    request = ContestRequest(
        receipt_set_digest=receipt_set_digest(receipts),
        receipt_count=len(receipts),
        client_nonce_sha256=nonce_commitment(client_nonce),
        sample_size=k,
        deadline_ms=math.ceil(deadline_seconds * 1000),
    )
    request.check()
    statement = client.open_contest(request)
    # The proofs are due by the signed deadline, and never sooner than asked on this clock.
    due = max(time.time() + deadline_seconds, statement.deadline_at_ms / 1000)
    # Revealing the nonce: from here on anyone with the statement can recompute the sample.
    sample = contest_sample(statement, client_nonce)
    judge = _SampleJudge(client, proofs or client, options, statement, client_nonce, ordered)
    # Every proof is asked for before any is awaited, so they share the deadline.
    requested = [(index, judge.request(index)) for index in sample]
    return ContestResult(
        statement=statement,
        client_nonce=client_nonce,
        sample=sample,
        outcomes=[
            job if isinstance(job, SampleOutcome) else judge.settle(index, job, due)
            for index, job in requested
        ],
        tamper_rate=tamper_rate,
        detection_probability=probability,
    )
