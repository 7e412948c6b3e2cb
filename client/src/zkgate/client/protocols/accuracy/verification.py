"""Checking an accuracy certificate against the consumer's own test set, trusting no claim in it.

Every number the provider wrote is recomputed: the sample from the statement and the nonce, the
labels from the test set, each predicted class from the outputs the proof hashes, and the count
from those. A certificate passes only if every entry's proof is a proof of that very example
under the pinned batch circuit.

The label comparison is done here, from the proven outputs, not in the circuit: the outputs are
hashed in the proof but revealed to the certificate's reader, who holds the labels anyway. So the
circuit that serves the model, under the commitment consumers already pin, proves evaluations
too; comparing in the circuit would take a second circuit per model, with its own keys and
commitment, for no saving in proving (measured: docs/protocols.md, "Where the labels are
compared").
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum, auto

from zkgate.client.verification.proof import AuthenticatedProof, authenticate_proof
from zkgate.client.verification.reasons import Reason, VerificationError
from zkgate.core.attestations import AttestationError
from zkgate.core.batch_entry import BatchEntry
from zkgate.core.bundle import VerifierBundle
from zkgate.core.held_out_set import TestSet
from zkgate.core.protocols.accuracy import (
    AccuracyCertificate,
    AccuracyFormatError,
    CertificateEntry,
    accuracy_sample,
    hoeffding_epsilon,
    predicted_class,
)
from zkgate.core.reasoned_error import ReasonedError
from zkgate.core.tensors import NamedTensor


class AccuracyReason(StrEnum):
    BAD_STATEMENT = auto()
    COMMITMENT_MISMATCH = auto()
    INSECURE_SRS = auto()
    # The certificate is about another test set than the one in hand.
    TEST_SET_MISMATCH = auto()
    SAMPLE_MISMATCH = auto()
    LABEL_MISMATCH = auto()
    # A proof hashes another input than the sampled example at its position.
    EXAMPLE_MISMATCH = auto()
    # The outputs reported for an entry are not the ones its proof hashes.
    OUTPUT_MISMATCH = auto()
    INVALID_PROOF = auto()
    PREDICTION_MISMATCH = auto()
    COUNT_MISMATCH = auto()


class AccuracyError(ReasonedError):
    reason: AccuracyReason

    def __init__(self, reason: AccuracyReason, detail: str) -> None:
        super().__init__(reason, detail)


# What a failed proof check means for a certificate.
_PROOF_REASONS = {
    Reason.COMMITMENT_MISMATCH: AccuracyReason.COMMITMENT_MISMATCH,
    Reason.INSECURE_SRS: AccuracyReason.INSECURE_SRS,
    Reason.INPUT_MISMATCH: AccuracyReason.EXAMPLE_MISMATCH,
    Reason.ENTRY_MISMATCH: AccuracyReason.OUTPUT_MISMATCH,
    Reason.OUTPUT_OUT_OF_TOLERANCE: AccuracyReason.OUTPUT_MISMATCH,
}


@dataclass(frozen=True)
class VerifiedAccuracy:
    model: str
    commitment: str
    test_set_commitment: str
    sample_size: int
    correct: int
    delta: float
    # Hoeffding: with probability at least 1 - delta, the model's accuracy on the whole test
    # set is at least accuracy - epsilon.
    epsilon: float
    checks: list[str]

    @property
    def accuracy(self) -> float:
        return self.correct / self.sample_size

    @property
    def lower_bound(self) -> float:
        return max(0.0, self.accuracy - self.epsilon)


def verify_accuracy(
    certificate: AccuracyCertificate,
    test_set: TestSet,
    bundle: VerifierBundle,
    *,
    pinned_commitment: str,
    pinned_batch_commitment: str,
    gateway_public_key: bytes,
    allow_insecure_srs: bool = False,
    trusted_srs_identities: Collection[str] = (),
) -> VerifiedAccuracy:
    """Raises AccuracyError at the first failed check. bundle: the model's batch-circuit bundle
    (`GetVerifierBundle(batch=true)`), authenticated here against the pinned commitments."""
    statement = certificate.statement
    checks = [_check_statement(certificate, gateway_public_key)]
    _check_pins(certificate, pinned_commitment, pinned_batch_commitment)
    checks.append(_check_test_set(certificate, test_set))
    checks.append(_check_sample(certificate))
    # Nothing in the bundle is read before it is authenticated against the pins.
    proofs = _authenticated_proofs(
        certificate,
        bundle,
        pinned_commitment=pinned_commitment,
        pinned_batch_commitment=pinned_batch_commitment,
        allow_insecure_srs=allow_insecure_srs,
        trusted_srs_identities=trusted_srs_identities,
    )
    checks += sorted({check for proof in proofs.values() for check in proof.checks})
    correct = _proven_correct(certificate, test_set, proofs, _input_name(bundle, test_set))
    delta = certificate.delta
    epsilon = hoeffding_epsilon(certificate.sample_size, delta)
    accuracy = correct / certificate.sample_size
    checks.append(
        f"{correct} of {certificate.sample_size} sampled examples proven correct: accuracy "
        f"{accuracy:.4f}, at least {accuracy - epsilon:.4f} with probability {1 - delta:g} "
        f"(Hoeffding, epsilon {epsilon:.4f})"
    )
    return VerifiedAccuracy(
        model=statement.model,
        commitment=statement.commitment,
        test_set_commitment=statement.test_set_commitment,
        sample_size=certificate.sample_size,
        correct=correct,
        delta=delta,
        epsilon=epsilon,
        checks=checks,
    )


def _check_pins(
    certificate: AccuracyCertificate, pinned_commitment: str, pinned_batch_commitment: str
) -> None:
    statement = certificate.statement
    if (statement.commitment, statement.batch_commitment) != (
        pinned_commitment.lower(),
        pinned_batch_commitment.lower(),
    ):
        raise AccuracyError(
            AccuracyReason.COMMITMENT_MISMATCH,
            f"the evaluation is of commitment {statement.commitment} (batch "
            f"{statement.batch_commitment}), not the pinned {pinned_commitment} (batch "
            f"{pinned_batch_commitment})",
        )


def _proven_correct(
    certificate: AccuracyCertificate,
    test_set: TestSet,
    proofs: dict[str, AuthenticatedProof],
    input_name: str,
) -> int:
    """How many sampled examples the proofs show classified as the test set labels them; the
    certificate must claim exactly that many."""
    correct = 0
    for position, entry in enumerate(certificate.entries):
        where = f"entry {position} (test example {entry.test_index})"
        held_label = int(test_set.labels[entry.test_index])
        if entry.label != held_label:
            raise AccuracyError(
                AccuracyReason.LABEL_MISMATCH,
                f"{where}: the certificate scores label {entry.label}, the test set says "
                f"{held_label}",
            )
        example = test_set.example_tensor(entry.test_index, input_name)
        proven_class = _proven_class(entry, example, proofs[entry.proof_digest], where)
        correct += proven_class == held_label
    if certificate.correct != correct:
        raise AccuracyError(
            AccuracyReason.COUNT_MISMATCH,
            f"the certificate claims {certificate.correct} of {certificate.sample_size} correct; "
            f"the proofs show {correct}",
        )
    return correct


def _proven_class(
    entry: CertificateEntry, example: NamedTensor, proof: AuthenticatedProof, where: str
) -> int:
    """The class the proof shows the model picked for this example, which the certificate
    must have reported."""
    try:
        run = proof.outputs_for(
            [example],
            batch_entry=BatchEntry(
                index=entry.batch_index, size=entry.batch_size, outputs=entry.outputs
            ),
        )
    except VerificationError as exc:
        reason = _PROOF_REASONS.get(exc.reason, AccuracyReason.INVALID_PROOF)
        raise AccuracyError(reason, f"{where}: {exc.detail}") from exc
    proven_class = predicted_class(run.outputs[0].array)
    if entry.predicted != proven_class:
        raise AccuracyError(
            AccuracyReason.PREDICTION_MISMATCH,
            f"{where}: the certificate says class {entry.predicted} was predicted, the "
            f"proven outputs pick class {proven_class}",
        )
    return proven_class


def _check_statement(certificate: AccuracyCertificate, gateway_public_key: bytes) -> str:
    statement = certificate.statement
    try:
        statement.verify_issued_by(gateway_public_key)
    except AttestationError as exc:
        raise AccuracyError(AccuracyReason.BAD_STATEMENT, str(exc)) from exc
    return (
        f"the gateway signed the evaluation of {statement.model!r} at {statement.issued_at_ms} ms, "
        "committing to the model and the test set before the reveal"
    )


def _check_test_set(certificate: AccuracyCertificate, test_set: TestSet) -> str:
    statement = certificate.statement
    held = test_set.commitment()
    if (held, len(test_set)) != (statement.test_set_commitment, statement.test_set_size):
        raise AccuracyError(
            AccuracyReason.TEST_SET_MISMATCH,
            f"the certificate is for test set {statement.test_set_commitment} of "
            f"{statement.test_set_size} examples; yours is {held} of {len(test_set)}",
        )
    return f"the test set hashes to the committed root {held[:16]}... ({len(test_set)} examples)"


def _input_name(bundle: VerifierBundle, test_set: TestSet) -> str:
    """The model input the examples are fed to. The card is the provider's word even once its
    bundle is authenticated (the commitment covers keys and settings, not the card), so its
    input list is checked before it is used; a wrong shape would fail at the proofs anyway,
    this names the problem."""
    inputs = bundle.card.inputs
    if len(inputs) != 1:
        raise AccuracyError(
            AccuracyReason.TEST_SET_MISMATCH,
            f"the model card lists {len(inputs)} inputs; a test set feeds models of exactly one",
        )
    expected = tuple(inputs[0].shape)
    if tuple(test_set.examples.shape[1:]) != expected:
        raise AccuracyError(
            AccuracyReason.TEST_SET_MISMATCH,
            f"test examples are shaped {list(test_set.examples.shape[1:])}, the model's input "
            f"{list(expected)}",
        )
    return inputs[0].name


def _check_sample(certificate: AccuracyCertificate) -> str:
    try:
        sample = accuracy_sample(certificate.statement, bytes.fromhex(certificate.client_nonce))
    except (AccuracyFormatError, ValueError) as exc:
        raise AccuracyError(AccuracyReason.SAMPLE_MISMATCH, str(exc)) from exc
    proven = [entry.test_index for entry in certificate.entries]
    if proven != sample:
        raise AccuracyError(
            AccuracyReason.SAMPLE_MISMATCH,
            f"the certificate proves test examples {_preview(proven)}, the committed draw is "
            f"{_preview(sample)}",
        )
    return f"the proven examples are the {len(sample)} drawn from both parties' nonces"


def _preview(indices: Sequence[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:8])
    return f"[{shown}{', ...' if len(indices) > 8 else ''}] ({len(indices)})"


def _authenticated_proofs(
    certificate: AccuracyCertificate,
    bundle: VerifierBundle,
    *,
    pinned_commitment: str,
    pinned_batch_commitment: str,
    allow_insecure_srs: bool,
    trusted_srs_identities: Collection[str],
) -> dict[str, AuthenticatedProof]:
    """Each distinct proof checked once, however many sampled examples it carries."""
    authenticated = {}
    for digest in sorted({entry.proof_digest for entry in certificate.entries}):
        proof = certificate.proof(digest)
        if proof is None:
            raise AccuracyError(
                AccuracyReason.INVALID_PROOF,
                f"the certificate has no proof whose SHA-256 is {digest}",
            )
        try:
            authenticated[digest] = authenticate_proof(
                proof,
                bundle,
                pinned_commitment=pinned_commitment,
                allow_insecure_srs=allow_insecure_srs,
                trusted_srs_identities=trusted_srs_identities,
                pinned_batch_commitment=pinned_batch_commitment,
            )
        except VerificationError as exc:
            reason = _PROOF_REASONS.get(exc.reason, AccuracyReason.INVALID_PROOF)
            raise AccuracyError(reason, f"proof {digest[:16]}...: {exc.detail}") from exc
    return authenticated
