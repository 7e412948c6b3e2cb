"""Infer over gRPC, prove on a prover process, verify in the client: the whole product path."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from tests.fixtures.gateway_fixtures import RegisteredModel, RunningGateway
from tests.fixtures.tampering import flip_proof_byte, forge_receipt_output
from zkgate.client import (
    Prediction,
    Reason,
    VerificationError,
    VerifiedPrediction,
    VerifierBundle,
    verify,
)


@dataclass(frozen=True)
class Proven:
    prediction: Prediction
    proof: bytes
    bundle: VerifierBundle
    gateway_key: bytes


def prove_one(gateway: RunningGateway, model: str, sample: np.ndarray) -> Proven:
    with gateway.client() as client:
        prediction = client.infer(model, {"input": sample}, prove=True)
        assert prediction.job_id, "a prove request must return a job id at once"
        proof = client.wait_for_proof(prediction.job_id, timeout=600)
        return Proven(prediction, proof, client.bundle(model), client.gateway_key())


@pytest.fixture(scope="session")
def proven(gateway: RunningGateway, digits: RegisteredModel, digits_inputs: np.ndarray) -> Proven:
    return prove_one(gateway, digits.name, digits_inputs[0])


@pytest.fixture(scope="session")
def proven_other_input(
    gateway: RunningGateway, digits: RegisteredModel, digits_inputs: np.ndarray
) -> Proven:
    return prove_one(gateway, digits.name, digits_inputs[1])


def check(p: Proven, *, commitment: str, **kwargs: Any) -> VerifiedPrediction:
    return verify(
        p.prediction,
        p.proof,
        p.bundle,
        pinned_commitment=commitment,
        gateway_public_key=p.gateway_key,
        **kwargs,
    )


def rejection(p: Proven, *, commitment: str, **kwargs: Any) -> Reason:
    with pytest.raises(VerificationError) as info:
        check(p, commitment=commitment, **kwargs)
    assert str(info.value), "a rejection must say why"
    return info.value.reason


def test_verified_output_is_read_from_the_proof_and_matches_the_served_one(
    proven: Proven, digits: RegisteredModel
) -> None:
    verified = check(proven, commitment=digits.commitment, allow_insecure_srs=True)
    served = proven.prediction.outputs[0].array.astype(np.float64).ravel()
    proven_out = verified.proven_outputs[0].array.astype(np.float64).ravel()
    assert served.shape == proven_out.shape == (10,)
    assert np.abs(served - proven_out).max() <= verified.tolerance
    assert int(np.argmax(served)) == int(np.argmax(proven_out))
    assert verified.commitment == digits.commitment
    assert verified.checks


def test_client_pins_the_commitment_announced_at_registration(
    gateway: RunningGateway, digits: RegisteredModel
) -> None:
    with gateway.client() as client:
        bundle = client.bundle(digits.name)
    assert bundle.commitment() == digits.commitment == bundle.card.commitment
    assert bundle.card.srs.origin == "insecure-dev"
    assert bundle.card.fidelity.argmax_agreement > 0.9
    assert bundle.card.visibility.param == "fixed"


def test_one_flipped_proof_byte_is_rejected(proven: Proven, digits: RegisteredModel) -> None:
    tampered = replace(proven, proof=flip_proof_byte(proven.proof))
    assert (
        rejection(tampered, commitment=digits.commitment, allow_insecure_srs=True)
        == Reason.INVALID_PROOF
    )


def test_proof_from_other_weights_is_rejected_under_the_pinned_commitment(
    gateway: RunningGateway,
    digits: RegisteredModel,
    other_weights: RegisteredModel,
    proven: Proven,
    digits_inputs: np.ndarray,
) -> None:
    assert other_weights.commitment != digits.commitment
    foreign = prove_one(gateway, other_weights.name, digits_inputs[0])
    # The other model's proof checked against our pinned model's verifier bundle.
    swapped_proof = replace(proven, proof=foreign.proof)
    # The SNARK is checked before any instance is read, so the weights alone must sink it.
    assert (
        rejection(swapped_proof, commitment=digits.commitment, allow_insecure_srs=True)
        == Reason.INVALID_PROOF
    )

    # A gateway that serves the other model's bundle in place of ours.
    assert (
        rejection(foreign, commitment=digits.commitment, allow_insecure_srs=True)
        == Reason.COMMITMENT_MISMATCH
    )


def test_proof_for_another_input_than_the_receipts_is_rejected(
    proven: Proven, proven_other_input: Proven, digits: RegisteredModel
) -> None:
    mixed = replace(proven, proof=proven_other_input.proof)
    assert (
        rejection(mixed, commitment=digits.commitment, allow_insecure_srs=True)
        == Reason.INPUT_MISMATCH
    )


def test_tampered_receipt_is_rejected(proven: Proven, digits: RegisteredModel) -> None:
    receipt = forge_receipt_output(proven.prediction.receipt, "00" * 32)
    tampered = replace(proven, prediction=replace(proven.prediction, receipt=receipt))
    assert (
        rejection(tampered, commitment=digits.commitment, allow_insecure_srs=True)
        == Reason.BAD_RECEIPT_SIGNATURE
    )


def test_development_srs_needs_an_explicit_opt_in(proven: Proven, digits: RegisteredModel) -> None:
    assert rejection(proven, commitment=digits.commitment) == Reason.INSECURE_SRS


def test_proof_of_a_past_receipt_can_be_requested(
    gateway: RunningGateway, digits: RegisteredModel, digits_inputs: np.ndarray, proven: Proven
) -> None:
    with gateway.client() as client:
        prediction = client.infer(digits.name, {"input": digits_inputs[2]})
        assert prediction.job_id is None, "policy on_request: no proof unless asked"
        job_id = client.request_proof(prediction)
        # Idempotent: the same receipt maps to the same job.
        assert client.request_proof(prediction) == job_id
        proof = client.wait_for_proof(job_id, timeout=600)
        verified = client.verify(
            prediction, proof, pinned_commitment=digits.commitment, allow_insecure_srs=True
        )
    assert verified.commitment == digits.commitment


def test_a_pinned_ceremony_srs_is_trusted_without_the_insecure_opt_in(
    gateway: RunningGateway,
    digits: RegisteredModel,
    digits_inputs: np.ndarray,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The production path: provers use an SRS file pinned by SHA-256, and the client trusts
    that SRS by the identity it computes from its own copy of the file."""
    import ezkl

    from tests.fixtures.gateway_fixtures import DIGITS
    from zkgate.client.cli.main import main
    from zkgate.core.srs import file_sha256, srs_identity, verifier_slice_of_file

    with gateway.client() as client:
        logrows = client.bundle(digits.name).card.logrows
        # Stands in for a public ceremony file, provisioned into the provers' SRS directory.
        ceremony = gateway.data_dir / "srs" / f"ceremony-k{logrows}.srs"
        ezkl.gen_srs(str(ceremony), logrows)
        response = client.register_model(
            "digits-ceremony",
            DIGITS / "model.onnx",
            DIGITS / "calibration.npy",
            srs_path=str(ceremony),
            srs_sha256=file_sha256(ceremony),
        )
        client.wait_for_job(response.job_id, timeout=600)
        model = client.model("digits-ceremony")
        proven = prove_one(gateway, "digits-ceremony", digits_inputs[6])

    assert proven.bundle.card.srs.origin == "ceremony"
    trusted = srs_identity(verifier_slice_of_file(ceremony))
    assert proven.bundle.card.srs.identity == trusted
    capsys.readouterr()
    assert main(["srs-identity", str(ceremony)]) == 0
    assert f"identity   {trusted}" in capsys.readouterr().out
    verified = check(proven, commitment=model.commitment, trusted_srs_identities=[trusted])
    assert verified.commitment == model.commitment
    # Another SRS, even one labelled "ceremony", is trusted only by its identity.
    assert rejection(proven, commitment=model.commitment) == Reason.INSECURE_SRS
