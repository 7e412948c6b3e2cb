"""What a provider controls in a verification, edited the way a dishonest provider would.

Every value `verify` reads is either covered by the pinned commitment or derived by the client.
Each test changes one such value (the card's tolerance, the served tensors' names and shapes,
non-finite numbers) and expects a rejection with its own reason, on real ezkl proofs.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tests.fixtures.client_fixtures import OUTPUT_NAME, ClientWorld, X, signed_prediction
from zkgate.client.verification.prediction import verify
from zkgate.client.verification.reasons import Reason, VerificationError
from zkgate.core.batch_entry import BatchEntry, BatchEntryFormatError
from zkgate.core.bundle import BundleError, VerifierBundle
from zkgate.core.prediction import Prediction
from zkgate.core.receipts import Receipt
from zkgate.core.tensors import NamedTensor, tensors_digest


def check(world: ClientWorld, prediction: Prediction, proof: bytes, *, bundle=None, **options):
    return verify(
        prediction,
        proof,
        bundle or world.bundle,
        pinned_commitment=world.commitment,
        gateway_public_key=world.gateway_key,
        allow_insecure_srs=True,
        **options,
    )


def rejected(world: ClientWorld, prediction: Prediction, proof: bytes, **options) -> Reason:
    with pytest.raises(VerificationError) as info:
        check(world, prediction, proof, **options)
    return info.value.reason


def with_card(world: ClientWorld, edit) -> VerifierBundle:
    card = json.loads(world.bundle.card_json)
    edit(card)
    return dataclasses.replace(world.bundle, card_json=json.dumps(card))


def served(world: ClientWorld, y: np.ndarray, x: np.ndarray = X) -> Prediction:
    return signed_prediction(world.key, commitment=world.commitment, x=x, y=y)


def test_a_tolerance_widened_in_the_card_no_longer_matches_the_pinned_commitment(
    client_world: ClientWorld,
):
    """The attack: sign a wrong output and write a huge tolerance into the card."""
    world = client_world
    wrong = served(world, world.circuit.serve(X) + np.float32(5.0))
    assert rejected(world, wrong, world.proof) is Reason.OUTPUT_OUT_OF_TOLERANCE
    widened = with_card(world, lambda card: card["fidelity"].__setitem__("tolerance", 1e6))
    reason = rejected(world, wrong, world.proof, bundle=VerifierBundle.from_bytes(**parts(widened)))
    assert reason is Reason.COMMITMENT_MISMATCH


def parts(bundle: VerifierBundle) -> dict:
    return {
        "card_json": bundle.card_json,
        "verifying_key": bundle.verifying_key,
        "settings": bundle.settings,
        "srs_slice": bundle.srs_slice,
    }


@pytest.mark.parametrize(
    "tolerance", ["Infinity", "NaN", "1e999", '"big"', "null", "[1]", "-1", "true"]
)
def test_a_card_with_a_non_finite_or_non_numeric_tolerance_is_unreadable(
    client_world: ClientWorld, tolerance: str
):
    text = client_world.bundle.card_json.replace(
        f'"tolerance":{json.loads(client_world.bundle.card_json)["fidelity"]["tolerance"]!r}',
        f'"tolerance":{tolerance}',
    )
    assert text != client_world.bundle.card_json
    with pytest.raises(BundleError, match=r"tolerance|is not a JSON number"):
        VerifierBundle.from_bytes(**{**parts(client_world.bundle), "card_json": text})


@pytest.mark.parametrize("tolerance", ["big", None, [1], float("inf"), float("nan"), -1.0, True])
def test_a_callers_tolerance_must_be_a_finite_non_negative_number(
    client_world: ClientWorld, tolerance
):
    if tolerance is None:  # None is the default: the committed tolerance
        assert check(client_world, client_world.honest_prediction(), client_world.proof)
        return
    with pytest.raises(ValueError, match="tolerance"):
        check(
            client_world, client_world.honest_prediction(), client_world.proof, tolerance=tolerance
        )


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_a_non_finite_served_output_is_refused(client_world: ClientWorld, value):
    y = client_world.circuit.serve(X).copy()
    y[0, 1] = value
    prediction = served(client_world, y)
    assert rejected(client_world, prediction, client_world.proof) is Reason.NON_FINITE


def test_a_nan_input_does_not_verify_as_the_zero_input(client_world: ClientWorld):
    """ezkl quantizes NaN to 0: the proof of the input with a zero there used to verify."""
    world = client_world
    zeroed = X.copy()
    zeroed[0, 0] = 0.0
    proof_of_zeroed = world.circuit.prove(zeroed)
    assert check(world, served(world, world.circuit.serve(zeroed), zeroed), proof_of_zeroed)
    with_nan = X.copy()
    with_nan[0, 0] = np.nan
    prediction = served(world, world.circuit.serve(zeroed), with_nan)
    assert rejected(world, prediction, proof_of_zeroed) is Reason.NON_FINITE


@pytest.mark.parametrize(
    ("value", "reason"),
    [(np.inf, Reason.NON_FINITE), (-np.inf, Reason.NON_FINITE), (3e38, Reason.INPUT_OUT_OF_RANGE)],
)
def test_inputs_the_circuit_cannot_quantize_have_their_own_reason(
    client_world: ClientWorld, value, reason
):
    x = X.copy()
    x[0, 2] = value
    prediction = served(client_world, client_world.circuit.serve(X), x)
    assert rejected(client_world, prediction, client_world.proof) is reason


def test_a_served_output_renamed_and_reshaped_is_a_signature_mismatch(client_world: ClientWorld):
    world = client_world
    honest = world.honest_prediction()
    (output,) = honest.outputs
    for name, array in (
        ("probabilities", output.array),
        (OUTPUT_NAME, output.array.reshape(3, 1)),
        (OUTPUT_NAME, output.array.astype(np.float64)),
    ):
        forged = resign(world, dataclasses.replace(honest, outputs=[NamedTensor.of(name, array)]))
        assert rejected(world, forged, world.proof) is Reason.SIGNATURE_MISMATCH, name


def resign(world: ClientWorld, prediction: Prediction) -> Prediction:
    """The provider signs whatever it serves: a receipt over the edited tensors."""
    body = dataclasses.replace(
        prediction.receipt.body,
        input_digest=tensors_digest(prediction.inputs),
        output_digest=tensors_digest(prediction.outputs),
    )
    return dataclasses.replace(
        prediction, receipt=Receipt(body=body, signature=world.key.sign(body.signing_bytes()))
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda card: card.__setitem__("ezkl_version", 23), "ezkl_version"),
        (lambda card: card.__setitem__("inputs", []), "at least one input"),
        (lambda card: card.__setitem__("outputs", {}), "outputs"),
        (lambda card: card["fidelity"].__setitem__("argmax_agreement", 7), "argmax_agreement"),
        (lambda card: card.__setitem__("surprise", 1), "unknown field"),
    ],
)
def test_malformed_cards_are_bundle_errors(client_world: ClientWorld, edit, message):
    bundle = with_card(client_world, edit)
    with pytest.raises(BundleError, match=message):
        VerifierBundle.from_bytes(**parts(bundle))


@pytest.mark.parametrize("text", ["[" * 100_000, "[]", "7", '"card"', "null"])
def test_a_card_that_is_not_an_object_or_too_deep_is_a_bundle_error(
    client_world: ClientWorld, text
):
    with pytest.raises(BundleError, match="card"):
        VerifierBundle.from_bytes(**{**parts(client_world.bundle), "card_json": text})


@pytest.mark.parametrize("text", [b"[" * 100_000, b"[1, 2]", b'{"proof": [1], "instances": 3}'])
def test_a_deep_or_misshapen_proof_is_an_invalid_proof(client_world: ClientWorld, text):
    reason = rejected(client_world, client_world.honest_prediction(), text)
    assert reason is Reason.INVALID_PROOF


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "[]",
        '{"format": "zkgate.batch-entry/1", "index": -1, "size": 4, "outputs": []}',
        '{"format": "zkgate.batch-entry/1", "index": 0, "size": 4, "outputs": [[1]]}',
        '{"format": "zkgate.batch-entry/1", "index": true, "size": 4, "outputs": []}',
    ],
)
def test_malformed_batch_entries_are_format_errors(text):
    with pytest.raises(BatchEntryFormatError):
        BatchEntry.from_json(text)


def test_committed_settings_reading_inputs_at_another_scale_are_refused(
    client_world: ClientWorld, tmp_path
):
    """Committed at registration, not edited afterwards: settings whose model_input_scales say 0
    while the key was made at the run arguments' scale. The key is the same, every input would
    be read as zeros, and a provider could serve a constant function under the model's name."""
    import shutil

    from tests.fixtures.client_fixtures import make_bundle

    settings = json.loads(client_world.circuit.settings.read_bytes())
    settings["model_input_scales"] = [0]
    shutil.copytree(client_world.circuit.directory, tmp_path / "circuit")
    degenerate = dataclasses.replace(client_world.circuit, directory=tmp_path / "circuit")
    degenerate.settings.write_text(json.dumps(settings))
    bundle = make_bundle(degenerate)
    with pytest.raises(VerificationError) as info:
        verify(
            client_world.honest_prediction(),
            client_world.proof,
            bundle,
            pinned_commitment=bundle.commitment(),
            gateway_public_key=client_world.gateway_key,
            allow_insecure_srs=True,
        )
    assert info.value.reason is Reason.COMMITMENT_MISMATCH
    assert "scale" in info.value.detail


@pytest.mark.timeout(20)
@pytest.mark.parametrize("size", [65_000, 650_000])
def test_an_unterminated_string_of_escaped_quotes_is_read_in_linear_time(size):
    """The depth pre-scan once backtracked on every escaped quote: 65,000 of them took 45 s, so
    a 1 MB document would have held a verifier for most of an hour."""
    from zkgate.core.documents import DocumentError, parse_json

    with pytest.raises(DocumentError, match="not valid JSON"):
        parse_json(b'["' + b'\\"' * size, what="proof")
