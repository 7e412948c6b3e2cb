"""Checking a retrieval result against the committed dataset and the requester's own predicate.

Nothing the responder wrote is believed. The statements must be the gateway's; the predicate's
verifying key is rebuilt from the requester's ONNX; every record must sit at its position under
the committed root; every proof must be a proof of that record under the rebuilt key; and the
proven outputs, not the answer's flags, say whether the predicate holds. The sample of left-out
records is redrawn from the signed answer and the nonce.

What passing means: every returned record is in the committed dataset, and the predicate, as its
circuit computes it at the scale the requester asked for, holds for each one claimed to match.
Completeness is probabilistic: had the responder left out m matching records among the L it
claims do not match, a sample of k of them (drawn without replacement) catches at least one with
probability 1 - C(L - m, k) / C(L, k), which is k / L for a single omission.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum, auto
from pathlib import Path

import numpy as np
import numpy.typing as npt

from zkgate.client.protocols.retrieval.predicate_circuit import (
    PredicateCircuit,
    PredicateMismatch,
    check_predicate_circuit,
)
from zkgate.client.verification.proof import check_proof
from zkgate.client.verification.reasons import Reason, VerificationError
from zkgate.core.attestations import AttestationError
from zkgate.core.bundle import VerifierBundle
from zkgate.core.dataset import record_leaf
from zkgate.core.merkle import InclusionProof, MerkleError, verify_inclusion
from zkgate.core.protocols.accuracy import predicted_class
from zkgate.core.protocols.predicate import HOLDS
from zkgate.core.protocols.retrieval import (
    DatasetStatement,
    RequesterRecord,
    Retrieval,
    RetrievalFormatError,
    RetrievalResult,
    RetrievedRecord,
    retrieval_sample,
)
from zkgate.core.reasoned_error import ReasonedError
from zkgate.core.sampling import chance_to_draw_any
from zkgate.core.tensors import NamedTensor


class RetrievalReason(StrEnum):
    BAD_STATEMENT = auto()
    # The result carries another answer or nonce than the requester held before its reveal.
    ANSWER_MISMATCH = auto()
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

    def detection_probability(self, omitted: int = 1) -> float:
        """The exact chance that the sample caught an omission, had `omitted` of the left-out
        records been matches: k / L for one of L, and 1 once every left-out record is drawn."""
        return chance_to_draw_any(self.left_out, min(omitted, self.left_out), len(self.sampled))


def verify_retrieval(
    retrieval: Retrieval,
    dataset: DatasetStatement,
    predicate_onnx: bytes,
    bundle: VerifierBundle,
    *,
    srs_path: Path,
    gateway_public_key: bytes,
    allow_insecure_srs: bool = False,
    trusted_srs_identities: Collection[str] = (),
) -> VerifiedRetrieval:
    """Raises RetrievalError at the first failed check. retrieval: the requester's own record
    and the responder's result. dataset: the statement the requester obtained before sending
    its predicate. bundle: the predicate model's, as served. srs_path: a full SRS file the
    requester trusts, of the predicate's logrows (see predicate_circuit)."""
    result = retrieval.result
    statement = result.statement
    checks = [
        _check_statements(result, dataset, gateway_public_key),
        _check_asked(retrieval.record, result),
    ]
    circuit = _check_circuit(retrieval, dataset, predicate_onnx, bundle, srs_path)
    checks += circuit.checks
    sample = _check_record_set(result)
    checks.append(
        f"the result returns the {len(statement.match_indices())} claimed matches and the "
        f"{len(sample)} left-out records drawn from both parties' nonces"
    )
    matches, proof_checks = _proven_matches(
        result,
        dataset,
        bundle,
        circuit,
        allow_insecure_srs=allow_insecure_srs,
        trusted_srs_identities=trusted_srs_identities,
    )
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


def _proven_matches(
    result: RetrievalResult,
    dataset: DatasetStatement,
    bundle: VerifierBundle,
    circuit: PredicateCircuit,
    *,
    allow_insecure_srs: bool,
    trusted_srs_identities: Collection[str],
) -> tuple[list[tuple[int, npt.NDArray[np.float32]]], set[str]]:
    """The returned records the proofs show the predicate holding for, with the proofs' checks;
    every record must sit under the committed root and agree with the answer's claim for it."""
    matches: list[tuple[int, npt.NDArray[np.float32]]] = []
    proof_checks: set[str] = set()
    for record in result.records:
        array = _included_record(record, dataset)
        holds, run_checks = _proven_outcome(
            result,
            record,
            array,
            bundle,
            circuit,
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
    return matches, proof_checks


def _check_asked(record: RequesterRecord, result: RetrievalResult) -> str:
    """The result answers what the requester asked, under the answer it held before revealing,
    and checks at least one left-out record if any was left out."""
    if result.statement != record.statement or result.client_nonce != record.client_nonce:
        raise RetrievalError(
            RetrievalReason.ANSWER_MISMATCH,
            "the result carries another answer or nonce than the ones you held before "
            "revealing your nonce: an answer signed after the reveal could have been chosen "
            "for its sample",
        )
    statement = record.statement
    if statement.sample_size != record.sample_size:
        raise RetrievalError(
            RetrievalReason.SAMPLE_MISMATCH,
            f"the answer has {statement.sample_size} left-out records checked, you asked for "
            f"{record.sample_size}",
        )
    if statement.sample_count() == 0 and statement.left_out():
        raise RetrievalError(
            RetrievalReason.SAMPLE_MISMATCH,
            f"no left-out record is checked, of {len(statement.left_out())}: nothing shows "
            "that the answer omits no match",
        )
    return (
        f"the result answers with the statement and nonce you held before revealing, and "
        f"checks {statement.sample_count()} left-out records as you asked"
    )


def _check_circuit(
    retrieval: Retrieval,
    dataset: DatasetStatement,
    predicate_onnx: bytes,
    bundle: VerifierBundle,
    srs_path: Path,
) -> PredicateCircuit:
    """The requester's own reading of the circuit, whose commitment the answer must name."""
    try:
        circuit = check_predicate_circuit(bundle, predicate_onnx, srs_path, retrieval.record.scale)
    except PredicateMismatch as exc:
        raise RetrievalError(RetrievalReason.PREDICATE_MISMATCH, str(exc)) from exc
    commitment = retrieval.result.statement.predicate_commitment
    if bundle.commitment() != commitment:
        raise RetrievalError(
            RetrievalReason.PREDICATE_MISMATCH,
            f"the answer is for predicate commitment {commitment}, the rebuilt predicate's is "
            f"{bundle.commitment()}",
        )
    if math.prod(circuit.input_shape) != math.prod(dataset.shape()):
        raise RetrievalError(
            RetrievalReason.PREDICATE_MISMATCH,
            f"the predicate takes {list(circuit.input_shape)}, the dataset's records are "
            f"{dataset.shape()}",
        )
    return circuit


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


def _included_record(record: RetrievedRecord, dataset: DatasetStatement) -> npt.NDArray[np.float32]:
    try:
        array = record.array(dataset.shape())
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
    array: npt.NDArray[np.float32],
    bundle: VerifierBundle,
    circuit: PredicateCircuit,
    *,
    allow_insecure_srs: bool,
    trusted_srs_identities: Collection[str],
) -> tuple[bool, list[str]]:
    """Whether the proof shows the predicate holding for this record. The bundle's settings
    equal the requester's derived ones (check_predicate_circuit), and the output is read at the
    derived shape, never the card's."""
    proof = result.proof(record.proof_digest)
    if proof is None:
        raise RetrievalError(
            RetrievalReason.INVALID_PROOF,
            f"record {record.index}: the result has no proof whose SHA-256 is "
            f"{record.proof_digest}",
        )
    try:
        run = check_proof(
            [NamedTensor(name="record", datatype="FP32", array=array)],
            proof,
            bundle,
            pinned_commitment=result.statement.predicate_commitment,
            allow_insecure_srs=allow_insecure_srs,
            trusted_srs_identities=trusted_srs_identities,
            output_slots=[("predicate", circuit.output_shape)],
        )
    except VerificationError as exc:
        reason = _PROOF_REASONS.get(exc.reason, RetrievalReason.INVALID_PROOF)
        raise RetrievalError(reason, f"record {record.index}: {exc.detail}") from exc
    return predicted_class(run.outputs[0].array) == HOLDS, run.checks
