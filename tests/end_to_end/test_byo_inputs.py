"""Models with two inputs, two outputs and an integer class label, registered with
`zkgate models add --calibration x.npz`, served to `zkgate infer --verify` and to a stock OIP
client (tritonclient), and verified: every input and output is bound by the proof or the
receipt, and a served label must be the proven label exactly."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as triton
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.fixtures.byo_inputs_fixtures import CLASSES, WIDTH_A, WIDTH_B, samples
from tests.fixtures.gateway_fixtures import RegisteredModel, RunningGateway
from zkgate.client import Prediction, Reason, VerificationError, VerifiedPrediction, verify
from zkgate.client.cli.main import main
from zkgate.core.bundle import VerifierBundle
from zkgate.core.card import EXACT
from zkgate.core.receipts import Receipt
from zkgate.core.tensors import NamedTensor, tensors_digest
from zkgate.gateway.receipt_signer import ReceiptSigner


@dataclass(frozen=True)
class Proven:
    prediction: Prediction
    proof: bytes
    bundle: VerifierBundle
    gateway_key: bytes
    commitment: str

    def verify(self, prediction: Prediction | None = None, **kwargs: Any) -> VerifiedPrediction:
        return verify(
            prediction or self.prediction,
            self.proof,
            self.bundle,
            **{
                "pinned_commitment": self.commitment,
                "gateway_public_key": self.gateway_key,
                "allow_insecure_srs": True,
                **kwargs,
            },
        )

    def rejection(self, prediction: Prediction, **kwargs: Any) -> Reason:
        with pytest.raises(VerificationError) as info:
            self.verify(prediction, **kwargs)
        assert str(info.value), "a rejection must say why"
        return info.value.reason


def _proven(
    gateway: RunningGateway, model: RegisteredModel, inputs: dict[str, np.ndarray]
) -> Proven:
    with gateway.client() as client:
        prediction = client.infer(model.name, inputs, prove=True)
        assert prediction.job_id
        proof = client.wait_for_proof(prediction.job_id, timeout=600)
        return Proven(
            prediction, proof, client.bundle(model.name), client.gateway_key(), model.commitment
        )


@pytest.fixture(scope="module")
def two_inputs(gateway: RunningGateway, two_inputs_model: RegisteredModel) -> Proven:
    return _proven(
        gateway,
        two_inputs_model,
        {"a": samples(1, WIDTH_A, 20)[0], "b": samples(1, WIDTH_B, 21)[0]},
    )


@pytest.fixture(scope="module")
def label_only(gateway: RunningGateway, label_model: RegisteredModel) -> Proven:
    return _proven(gateway, label_model, {"x": samples(1, WIDTH_A, 22)[0]})


def _with_tensor(tensors: list[NamedTensor], index: int, array: np.ndarray) -> list[NamedTensor]:
    edited = list(tensors)
    edited[index] = replace(edited[index], array=array)
    return edited


def _dishonest(prediction: Prediction, key: Ed25519PrivateKey, **changes: Any) -> Prediction:
    """The prediction as a dishonest gateway serves it: tensors changed and a receipt signed
    over the changed tensors, with its own key (which the client is then given)."""
    changed = replace(prediction, **changes)
    body = replace(
        prediction.receipt.body,
        input_digest=tensors_digest(changed.inputs),
        output_digest=tensors_digest(changed.outputs),
    )
    return replace(changed, receipt=ReceiptSigner(key).sign(body))


def _raw_public_key(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_the_card_lists_every_input_and_output_and_a_label_compared_exactly(
    two_inputs: Proven,
) -> None:
    card = two_inputs.bundle.card
    assert [(s.name, s.shape) for s in card.inputs] == [("a", [1, WIDTH_A]), ("b", [1, WIDTH_B])]
    assert [(s.name, s.datatype) for s in card.outputs] == [("logits", "FP32"), ("label", "INT64")]
    assert card.fidelity.outputs is not None
    assert [(o.name, o.comparison, o.tolerance) for o in card.fidelity.outputs][1] == (
        "label",
        EXACT,
        0.0,
    )


def test_a_two_input_prediction_verifies_and_its_label_is_the_proven_label(
    two_inputs: Proven,
) -> None:
    verified = two_inputs.verify()
    served = {t.name: t.array for t in two_inputs.prediction.outputs}
    proven = {t.name: t.array for t in verified.proven_outputs}
    assert served["label"].shape == proven["label"].shape == (1, 1)
    assert int(served["label"][0, 0]) == int(proven["label"][0, 0])
    assert int(served["label"][0, 0]) == int(np.argmax(served["logits"]))
    assert proven["logits"].shape == (1, CLASSES)
    assert any("label equal" in check for check in verified.checks)


@pytest.mark.parametrize("index", [0, 1])
def test_an_edit_of_either_input_is_rejected(two_inputs: Proven, index: int) -> None:
    prediction = two_inputs.prediction
    edited = prediction.inputs[index].array.copy()
    edited[0, -1] += 0.25
    tampered = replace(prediction, inputs=_with_tensor(prediction.inputs, index, edited))
    assert two_inputs.rejection(tampered) == Reason.INPUT_MISMATCH
    # Even with a receipt signed over the edited inputs, the proof is of the original ones.
    rogue = Ed25519PrivateKey.generate()
    resigned = _dishonest(prediction, rogue, inputs=tampered.inputs)
    assert (
        two_inputs.rejection(resigned, gateway_public_key=_raw_public_key(rogue))
        == Reason.INPUT_MISMATCH
    )


def test_swapped_inputs_are_rejected(two_inputs: Proven) -> None:
    prediction = two_inputs.prediction
    swapped = replace(prediction, inputs=list(reversed(prediction.inputs)))
    assert two_inputs.rejection(swapped) in (Reason.INPUT_MISMATCH, Reason.SIGNATURE_MISMATCH)


def test_an_edit_of_the_second_output_is_rejected(two_inputs: Proven) -> None:
    prediction = two_inputs.prediction
    label = prediction.outputs[1].array
    other = (label + 1) % CLASSES
    tampered = replace(prediction, outputs=_with_tensor(prediction.outputs, 1, other))
    # Under the gateway's own receipt, the served label is not the signed one.
    assert two_inputs.rejection(tampered) == Reason.RECEIPT_MISMATCH
    # A dishonest gateway signs what it serves: the proof still shows another label, and no
    # tolerance (not even one the caller widens) lets a label one class away agree.
    rogue = Ed25519PrivateKey.generate()
    resigned = _dishonest(prediction, rogue, outputs=tampered.outputs)
    for tolerance in (None, 10.0):
        assert (
            two_inputs.rejection(
                resigned, gateway_public_key=_raw_public_key(rogue), tolerance=tolerance
            )
            == Reason.OUTPUT_OUT_OF_TOLERANCE
        )


def test_a_served_class_label_must_equal_the_proven_label(label_only: Proven) -> None:
    card = label_only.bundle.card
    assert card.fidelity.tolerance == 0.0, "a label-only model has no float output to allow for"
    verified = label_only.verify()
    np.testing.assert_array_equal(
        label_only.prediction.outputs[0].array, verified.proven_outputs[0].array
    )
    rogue = Ed25519PrivateKey.generate()
    label = label_only.prediction.outputs[0].array
    for shift in (1, CLASSES - 1):
        tampered = _with_tensor(label_only.prediction.outputs, 0, (label + shift) % CLASSES)
        resigned = _dishonest(label_only.prediction, rogue, outputs=tampered)
        assert (
            label_only.rejection(resigned, gateway_public_key=_raw_public_key(rogue))
            == Reason.OUTPUT_OUT_OF_TOLERANCE
        )


def test_zkgate_infer_verifies_a_two_input_model(
    gateway: RunningGateway,
    two_inputs_model: RegisteredModel,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    np.save(tmp_path / "a.npy", samples(1, WIDTH_A, 30)[0])
    np.save(tmp_path / "b.npy", samples(1, WIDTH_B, 31)[0])
    status = main(
        [
            "infer",
            two_inputs_model.name,
            "--target",
            gateway.target,
            "--input",
            f"a={tmp_path / 'a.npy'}",
            "--input",
            f"b={tmp_path / 'b.npy'}",
            "--verify",
            "--prove",
            "--commitment",
            two_inputs_model.commitment,
            "--allow-insecure-srs",
        ]
    )
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert "VERIFIED" in out
    assert "label equal" in out


def test_a_stock_oip_client_sends_both_inputs_and_gets_a_provable_label(
    gateway: RunningGateway, two_inputs_model: RegisteredModel
) -> None:
    client = triton.InferenceServerClient(gateway.target)
    metadata = client.get_model_metadata(two_inputs_model.name)
    assert [t.name for t in metadata.inputs] == ["a", "b"]
    assert [(t.name, t.datatype) for t in metadata.outputs] == [
        ("logits", "FP32"),
        ("label", "INT64"),
    ]
    a, b = samples(1, WIDTH_A, 40)[0], samples(1, WIDTH_B, 41)[0]
    # Inputs in the other order than the model's: the gateway orders them by name.
    sent = []
    for name, array in (("b", b), ("a", a)):
        tensor = triton.InferInput(name, list(array.shape), "FP32")
        tensor.set_data_from_numpy(array)
        sent.append(tensor)
    result = client.infer(
        two_inputs_model.name, sent, request_id="stock-two", parameters={"zkgate.prove": True}
    )
    logits, label = result.as_numpy("logits"), result.as_numpy("label")
    assert logits is not None and label is not None and label.dtype == np.int64
    parameters = result.get_response().parameters
    receipt = Receipt.from_json(parameters["zkgate.receipt"].string_param)
    job_id = parameters["zkgate.proof_job"].string_param
    client.close()
    prediction = Prediction(
        model=two_inputs_model.name,
        request_id="stock-two",
        inputs=[NamedTensor.of("a", a), NamedTensor.of("b", b)],
        outputs=[NamedTensor.of("logits", logits), NamedTensor.of("label", label)],
        receipt=receipt,
        job_id=job_id,
    )
    with gateway.client() as ours:
        proof = ours.wait_for_proof(job_id, timeout=600)
        verified = ours.verify(
            prediction,
            proof,
            pinned_commitment=two_inputs_model.commitment,
            allow_insecure_srs=True,
        )
    assert int(verified.proven_outputs[1].array[0, 0]) == int(label[0, 0])
