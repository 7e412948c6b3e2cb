"""Checking a retrieval result against the committed dataset and the requester's own predicate.

Nothing the responder wrote is believed. The statements must be the gateway's; the predicate's
verifying key is rebuilt from the requester's ONNX; every record must sit at its position under
the committed root; every proof must be a proof of that record under the rebuilt key; and the
proven outputs, not the answer's flags, say whether the predicate holds. The sample of left-out
records is redrawn from the signed answer and the nonce.

What passing means: every returned record is in the committed dataset, and the predicate truly
holds for each one claimed to match. Completeness is probabilistic: had the responder left out a
fraction p of the claimed non-matches that in fact match, a sample of k of them misses all with
probability at most (1 - p)^k. A predicate that is wrong on its own terms (a coarse fixed-point
scale flipping a borderline record) is the requester's to judge from the rebuilt settings.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum, auto
from pathlib import Path

import numpy as np
import numpy.typing as npt

from zkgate.client.accuracy_verification import predicted_class
from zkgate.client.attestations import AttestationError
from zkgate.client.bundle import VerifierBundle
from zkgate.client.dataset import record_leaf
from zkgate.client.merkle import InclusionProof, MerkleError, verify_inclusion
from zkgate.client.predicate_circuit import PredicateMismatch, check_predicate_circuit
from zkgate.client.reasoned_error import ReasonedError
from zkgate.client.retrieval import (
    DatasetStatement,
    RetrievalFormatError,
    RetrievalResult,
    RetrievedRecord,
    retrieval_sample,
)
from zkgate.client.tensors import NamedTensor
from zkgate.client.verification import Reason, VerificationError, check_proof

# The class of the predicate's two-way output that means "holds".
HOLDS = 1


class RetrievalReason(StrEnum):
    BAD_STATEMENT = auto()
    # The answer is about another dataset than the committed one, or predates its commitment.
    DATASET_MISMATCH = auto()
    # The proofs are not of the requester's predicate.
    PREDICATE_MISMATCH = auto()
    INSECURE_SRS = auto()
    SAMPLE_MISMATCH = auto()
    # A claimed match, or a drawn left-out record, is not in the result.
    MISSING_RECORD = auto()
    # A record that is not the committed dataset's record at its position.
    OUTSIDE_DATASET = auto()
    INVALID_PROOF = auto()
    # A proof of another record than the one returned.
    INPUT_MISMATCH = auto()
    # A claimed match for which the proof shows the predicate does not hold.
    FORGED_RESULT = auto()
    # A left-out record for which the proof shows the predicate holds.
    OMISSION = auto()


class RetrievalError(ReasonedError):
    reason: RetrievalReason

    def __init__(self, reason: RetrievalReason, detail: str) -> None:
        super().__init__(reason, detail)


_PROOF_REASONS = {
    Reason.COMMITMENT_MISMATCH: RetrievalReason.PREDICATE_MISMATCH,
    Reason.INSECURE_SRS: RetrievalReason.INSECURE_SRS,
    Reason.INPUT_MISMATCH: RetrievalReason.INPUT_MISMATCH,
}


@dataclass(frozen=True)
class VerifiedRetrieval:
    dataset_root: str
    dataset_size: int
    # (position, record) of every record the predicate was proven to hold for.
    matches: list[tuple[int, npt.NDArray[np.float32]]]
    # Left-out positions proven not to match.
    sampled: list[int]
    left_out: int
    checks: list[str]

    def detection_probability(self, omission_rate: float) -> float:
        """The chance that the sample caught an omission, had that fraction of the left-out
        records been matches (drawn without replacement, so at least this)."""
        if self.left_out == 0:
            return 1.0
        return 1.0 - (1.0 - omission_rate) ** len(self.sampled)


def verify_retrieval(
    result: RetrievalResult,
    dataset: DatasetStatement,
    predicate_onnx: bytes,
    bundle: VerifierBundle,
    *,
    srs_path: Path,
    gateway_public_key: bytes,
    allow_insecure_srs: bool = False,
    trusted_srs_identities: Collection[str] = (),
) -> VerifiedRetrieval:
    """Raises RetrievalError at the first failed check. dataset: the statement the requester
    obtained before sending its predicate. bundle: the predicate model's, as served. srs_path:
    a full SRS file the requester trusts, of the predicate's logrows (see predicate_circuit)."""
    statement = result.statement
    checks = [_check_statements(result, dataset, gateway_public_key)]
    try:
        checks.append(check_predicate_circuit(bundle, predicate_onnx, srs_path))
    except PredicateMismatch as exc:
        raise RetrievalError(RetrievalReason.PREDICATE_MISMATCH, str(exc)) from exc
    if bundle.commitment() != statement.predicate_commitment:
        raise RetrievalError(
            RetrievalReason.PREDICATE_MISMATCH,
            f"the answer is for predicate commitment {statement.predicate_commitment}, the "
            f"rebuilt predicate's is {bundle.commitment()}",
        )
    sample = _check_record_set(result)
    checks.append(
        f"the result returns the {len(statement.match_indices())} claimed matches and the "
        f"{len(sample)} left-out records drawn from both parties' nonces"
    )
    shape = dataset.shape()
    input_name = bundle.card.inputs[0].name
    matches: list[tuple[int, npt.NDArray[np.float32]]] = []
    proof_checks: set[str] = set()
    for record in result.records:
        array = _included_record(record, dataset, shape)
        holds, run_checks = _proven_outcome(
            result,
            record,
            NamedTensor(name=input_name, datatype="FP32", array=array),
            bundle,
            allow_insecure_srs=allow_insecure_srs,
            trusted_srs_identities=trusted_srs_identities,
        )
        proof_checks.update(run_checks)
        if record.matched and not holds:
            raise RetrievalError(
                RetrievalReason.FORGED_RESULT,
                f"record {record.index} is returned as a match, but its proof shows the "
                "predicate does not hold for it",
            )
        if not record.matched and holds:
            raise RetrievalError(
                RetrievalReason.OMISSION,
                f"record {record.index} was left out of the answer, but its proof shows the "
                "predicate holds for it: the responder omitted a matching record",
            )
        if holds:
            matches.append((record.index, array))
    checks += sorted(proof_checks)
    checks.append(
        f"every returned record is under the committed root {dataset.root[:16]}..., and the "
        "proven predicate outputs agree with the answer for each"
    )
    return VerifiedRetrieval(
        dataset_root=dataset.root,
        dataset_size=dataset.size,
        matches=sorted(matches, key=lambda match: match[0]),
        sampled=sample,
        left_out=len(statement.left_out()),
        checks=checks,
    )


def _check_statements(
    result: RetrievalResult, dataset: DatasetStatement, gateway_public_key: bytes
) -> str:
    statement = result.statement
    try:
        dataset.verify_issued_by(gateway_public_key)
        statement.verify_issued_by(gateway_public_key)
    except AttestationError as exc:
        raise RetrievalError(RetrievalReason.BAD_STATEMENT, str(exc)) from exc
    if (statement.dataset_root, statement.dataset_size) != (dataset.root, dataset.size):
        raise RetrievalError(
            RetrievalReason.DATASET_MISMATCH,
            f"the answer is over dataset {statement.dataset_root} of {statement.dataset_size} "
            f"records, the committed one is {dataset.root} of {dataset.size}",
        )
    if dataset.issued_at_ms > statement.issued_at_ms:
        raise RetrievalError(
            RetrievalReason.DATASET_MISMATCH,
            "the dataset was committed after the answer was signed, so it could have been "
            "shaped to the query",
        )
    return (
        f"the gateway committed to dataset {dataset.name!r} ({dataset.size} records) at "
        f"{dataset.issued_at_ms} ms and signed the answer at {statement.issued_at_ms} ms, "
        "before the requester's nonce was revealed"
    )


def _check_record_set(result: RetrievalResult) -> list[int]:
    """The drawn sample; the result must hold exactly the claimed matches and the draw."""
    statement = result.statement
    try:
        sample = retrieval_sample(statement, bytes.fromhex(result.client_nonce))
    except (RetrievalFormatError, ValueError) as exc:
        raise RetrievalError(RetrievalReason.SAMPLE_MISMATCH, str(exc)) from exc
    expected = {index: True for index in statement.match_indices()}
    expected.update({index: False for index in sample})
    returned: dict[int, bool] = {}
    for record in result.records:
        if record.index in returned or expected.get(record.index) is not record.matched:
            role = "a match" if record.matched else "a left-out record"
            raise RetrievalError(
                RetrievalReason.SAMPLE_MISMATCH,
                f"record {record.index} is returned as {role}, which neither the signed answer "
                "nor the draw calls for (or it is returned twice)",
            )
        returned[record.index] = record.matched
    missing = sorted(set(expected) - set(returned))
    if missing:
        shown = ", ".join(str(i) for i in missing[:8])
        raise RetrievalError(
            RetrievalReason.MISSING_RECORD,
            f"records [{shown}{', ...' if len(missing) > 8 else ''}] are called for by the "
            "signed answer or the draw, but not returned",
        )
    return sample


def _included_record(
    record: RetrievedRecord, dataset: DatasetStatement, shape: list[int]
) -> npt.NDArray[np.float32]:
    try:
        array = record.array(shape)
        proof = InclusionProof(
            index=record.index,
            size=dataset.size,
            path=tuple(bytes.fromhex(node) for node in record.path),
        )
        verify_inclusion(record_leaf(record.index, array), proof, bytes.fromhex(dataset.root))
    except (MerkleError, ValueError) as exc:
        raise RetrievalError(
            RetrievalReason.OUTSIDE_DATASET,
            f"record {record.index} is not the committed dataset's record at that position: {exc}",
        ) from exc
    return array


def _proven_outcome(
    result: RetrievalResult,
    record: RetrievedRecord,
    tensor: NamedTensor,
    bundle: VerifierBundle,
    *,
    allow_insecure_srs: bool,
    trusted_srs_identities: Collection[str],
) -> tuple[bool, list[str]]:
    """Whether the proof shows the predicate holding for this record."""
    proof = result.proof(record.proof_digest)
    if proof is None:
        raise RetrievalError(
            RetrievalReason.INVALID_PROOF,
            f"record {record.index}: the result has no proof whose SHA-256 is "
            f"{record.proof_digest}",
        )
    try:
        run = check_proof(
            [tensor],
            proof,
            bundle,
            pinned_commitment=result.statement.predicate_commitment,
            allow_insecure_srs=allow_insecure_srs,
            trusted_srs_identities=trusted_srs_identities,
        )
    except VerificationError as exc:
        reason = _PROOF_REASONS.get(exc.reason, RetrievalReason.INVALID_PROOF)
        raise RetrievalError(reason, f"record {record.index}: {exc.detail}") from exc
    return predicted_class(run.outputs[0].array) == HOLDS, run.checks
