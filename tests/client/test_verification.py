"""Client-side verification against real ezkl proofs and real Ed25519 receipts.

One 4-8-3 MLP circuit (and a twin with other weights) is built per session; every rejection test
changes exactly one thing relative to an accepted prediction and expects its own Reason.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import ezkl
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.fixtures.client_fixtures import (
    OTHER_X,
    ClientWorld,
    X,
    make_bundle,
    signed_prediction,
)
from tests.fixtures.tampering import flip_proof_byte, forge_receipt_output
from zkgate.client.cli.main import main
from zkgate.client.verification.prediction import verify
from zkgate.client.verification.reasons import Reason, VerificationError
from zkgate.core.bundle import BundleError, VerifierBundle
from zkgate.core.card import SRS_ORIGIN_CEREMONY
from zkgate.core.instances import (
    CircuitLayout,
    InstanceLayoutError,
    expected_input_felts,
    split_instances,
)
from zkgate.core.prediction import Prediction, PredictionFormatError
from zkgate.core.tensors import NamedTensor, tensors_digest


def check(world: ClientWorld, prediction: Prediction, proof: bytes, *, bundle=None, **options):
    settings: dict = {
        "pinned_commitment": world.commitment,
        "gateway_public_key": world.gateway_key,
        "allow_insecure_srs": True,
        **options,
    }
    return verify(prediction, proof, bundle or world.bundle, **settings)


@pytest.fixture
def world(client_world: ClientWorld) -> ClientWorld:
    return client_world


def rejected(world: ClientWorld, prediction: Prediction, proof: bytes, **options):
    with pytest.raises(VerificationError) as info:
        check(world, prediction, proof, **options)
    return info.value


def edit_proof(proof: bytes, edit) -> bytes:
    raw = json.loads(proof)
    edit(raw)
    return json.dumps(raw).encode()


def test_the_k1_slice_verifies_honest_proofs_and_rejects_tampered_ones(world):
    """The premise of the whole client: a 516-byte slice is enough to verify, and not to forge."""
    assert len(world.bundle.srs_slice) == 516
    tmp = world.circuit.directory
    slice_path = tmp / "slice.srs"
    slice_path.write_bytes(world.bundle.srs_slice)
    honest, tampered = tmp / "honest.json", tmp / "tampered.json"
    honest.write_bytes(world.proof)
    tampered.write_bytes(flip_proof_byte(world.proof, len(json.loads(world.proof)["proof"]) - 1))
    args = (str(world.circuit.settings), str(world.circuit.verifying_key))
    assert ezkl.verify(str(honest), *args, srs_path=str(slice_path)) is True
    with pytest.raises(RuntimeError):
        ezkl.verify(str(tampered), *args, srs_path=str(slice_path))


def test_an_honest_prediction_is_accepted_with_its_proven_outputs(world):
    prediction = world.honest_prediction()
    result = check(world, prediction, world.proof)
    (proven,) = result.proven_outputs
    served = prediction.outputs[0].array
    assert proven.shape == served.shape
    assert np.max(np.abs(proven.array - served)) == pytest.approx(result.max_abs_diff)
    assert 0 < result.max_abs_diff <= result.tolerance == world.bundle.card.fidelity.tolerance
    assert result.commitment == world.commitment
    assert len(result.checks) == 8


def test_a_trusted_srs_identity_needs_no_opt_in(world):
    result = check(
        world,
        world.honest_prediction(),
        world.proof,
        allow_insecure_srs=False,
        trusted_srs_identities=[world.bundle.srs_identity()],
    )
    assert any("trusted SRS" in c for c in result.checks)


def test_a_dev_srs_is_refused_without_opt_in(world):
    error = rejected(world, world.honest_prediction(), world.proof, allow_insecure_srs=False)
    assert error.reason is Reason.INSECURE_SRS
    assert "allow_insecure_srs" in error.detail and "--allow-insecure-srs" in error.detail


def test_a_card_claiming_a_ceremony_srs_is_not_believed(world):
    """The origin label is the provider's word; only the identity the client trusts counts."""
    bundle = make_bundle(world.circuit, srs_origin=SRS_ORIGIN_CEREMONY)
    assert bundle.commitment() == world.commitment
    error = rejected(
        world, world.honest_prediction(), world.proof, bundle=bundle, allow_insecure_srs=False
    )
    assert error.reason is Reason.INSECURE_SRS
    assert f"--trust-srs {bundle.srs_identity()}" in error.detail


def test_settings_without_range_checks_on_inputs_and_outputs_are_refused(world, tmp_path):
    """Even committed to: a provider may not turn off the checks that tie the instances the
    proof is read for to the circuit's lookups."""
    settings = json.loads(world.circuit.settings.read_bytes())
    settings["run_args"]["ignore_range_check_inputs_outputs"] = True
    shutil.copytree(world.circuit.directory, tmp_path / "circuit")
    unchecked = dataclasses.replace(world.circuit, directory=tmp_path / "circuit")
    unchecked.settings.write_text(json.dumps(settings))
    bundle = make_bundle(unchecked)
    error = rejected(
        world,
        world.honest_prediction(),
        world.proof,
        bundle=bundle,
        pinned_commitment=bundle.commitment(),
    )
    assert error.reason is Reason.COMMITMENT_MISMATCH
    assert "ignore_range_check_inputs_outputs" in error.detail


def test_a_flipped_proof_byte_is_an_invalid_proof(world):
    flipped = flip_proof_byte(world.proof, 700)
    assert rejected(world, world.honest_prediction(), flipped).reason is Reason.INVALID_PROOF


def test_a_proof_from_other_weights_of_the_same_architecture_is_invalid(world):
    error = rejected(world, world.honest_prediction(), world.other_model_proof)
    assert error.reason is Reason.INVALID_PROOF


def test_a_proof_with_a_missing_instance_is_invalid(world):
    short = edit_proof(world.proof, lambda p: p["instances"][0].pop())
    error = rejected(world, world.honest_prediction(), short)
    assert error.reason is Reason.INVALID_PROOF
    assert "public instances" in error.detail


def test_a_proof_for_another_input_than_the_receipts_is_an_input_mismatch(world):
    error = rejected(world, world.honest_prediction(), world.other_input_proof)
    assert error.reason is Reason.INPUT_MISMATCH


def test_a_tampered_receipt_fails_its_signature(world):
    prediction = world.honest_prediction()
    lying_outputs = [NamedTensor.of("logits", prediction.outputs[0].array + np.float32(1))]
    forged = dataclasses.replace(
        prediction,
        outputs=lying_outputs,
        receipt=forge_receipt_output(prediction.receipt, tensors_digest(lying_outputs)),
    )
    assert rejected(world, forged, world.proof).reason is Reason.BAD_RECEIPT_SIGNATURE


def test_a_receipt_under_another_gateway_key_fails_its_signature(world):
    stranger = Ed25519PrivateKey.generate()
    prediction = signed_prediction(
        stranger, commitment=world.commitment, x=X, y=world.circuit.serve(X)
    )
    assert rejected(world, prediction, world.proof).reason is Reason.BAD_RECEIPT_SIGNATURE


def test_a_receipt_signed_over_other_inputs_is_a_receipt_mismatch(world):
    prediction = world.honest_prediction(receipt_inputs=[NamedTensor.of("input", OTHER_X)])
    error = rejected(world, prediction, world.proof)
    assert error.reason is Reason.RECEIPT_MISMATCH
    assert "input digest" in error.detail


def test_forged_pretty_public_inputs_change_nothing(world):
    def forge(raw: dict) -> None:
        pretty = raw["pretty_public_inputs"]
        pretty["rescaled_outputs"] = [["999.0", "999.0", "999.0"]]
        pretty["rescaled_inputs"] = [[str(v) for v in OTHER_X.ravel()]]

    honest = check(world, world.honest_prediction(), world.proof)
    forged = check(world, world.honest_prediction(), edit_proof(world.proof, forge))
    assert np.array_equal(forged.proven_outputs[0].array, honest.proven_outputs[0].array)
    # Nor can pretty inputs that name the sent input rescue a proof made for another one.
    lying = edit_proof(
        world.other_input_proof,
        lambda raw: raw["pretty_public_inputs"].__setitem__(
            "rescaled_inputs", [[str(v) for v in X.ravel()]]
        ),
    )
    assert rejected(world, world.honest_prediction(), lying).reason is Reason.INPUT_MISMATCH


def test_a_served_output_outside_tolerance_is_refused(world):
    served = world.circuit.serve(X) + np.float32(0.01)
    prediction = signed_prediction(world.key, commitment=world.commitment, x=X, y=served)
    error = rejected(world, prediction, world.proof)
    assert error.reason is Reason.OUTPUT_OUT_OF_TOLERANCE
    assert check(world, prediction, world.proof, tolerance=0.02).max_abs_diff > 0.009


def test_a_caller_tolerance_overrides_the_cards(world):
    error = rejected(world, world.honest_prediction(), world.proof, tolerance=1e-9)
    assert error.reason is Reason.OUTPUT_OUT_OF_TOLERANCE


def test_an_edited_settings_file_breaks_the_commitment(world):
    settings = json.loads(world.bundle.settings)
    settings["model_output_scales"] = [7]
    edited = dataclasses.replace(world.bundle, settings=json.dumps(settings).encode())
    error = rejected(world, world.honest_prediction(), world.proof, bundle=edited)
    assert error.reason is Reason.COMMITMENT_MISMATCH


def test_another_pinned_commitment_is_a_commitment_mismatch(world):
    error = rejected(world, world.honest_prediction(), world.proof, pinned_commitment="ab" * 32)
    assert error.reason is Reason.COMMITMENT_MISMATCH


def test_the_bundle_round_trips_and_reports_missing_or_truncated_files(world, tmp_path):
    world.bundle.save(tmp_path / "b")
    loaded = VerifierBundle.load(tmp_path / "b")
    assert loaded == world.bundle and loaded.commitment() == world.commitment
    (tmp_path / "b" / "srs-slice.srs").write_bytes(world.bundle.srs_slice[:300])
    with pytest.raises(BundleError, match=r"srs-slice\.srs.*truncated"):
        VerifierBundle.load(tmp_path / "b")
    (tmp_path / "b" / "settings.json").unlink()
    with pytest.raises(BundleError, match=r"lacks settings\.json"):
        VerifierBundle.load(tmp_path / "b")


def test_the_prediction_file_round_trips_bit_exactly_and_refuses_truncation(world):
    prediction = world.honest_prediction()
    text = prediction.to_json()
    again = Prediction.from_json(text)
    assert again.receipt == prediction.receipt and again.job_id == "job-1"
    assert again.inputs[0].raw_bytes() == prediction.inputs[0].raw_bytes()
    assert again.outputs[0].shape == (1, 3)
    with pytest.raises(PredictionFormatError, match="truncated"):
        Prediction.from_json(text[: len(text) // 2])


def write_case(world: ClientWorld, directory: Path, proof: bytes) -> list[str]:
    directory.mkdir()
    world.bundle.save(directory / "bundle")
    (directory / "prediction.json").write_text(world.honest_prediction().to_json())
    (directory / "proof.json").write_bytes(proof)
    (directory / "gateway.pub").write_text(world.gateway_key.hex())
    return [
        "verify",
        "--bundle", str(directory / "bundle"),
        "--prediction", str(directory / "prediction.json"),
        "--proof", str(directory / "proof.json"),
        "--commitment", world.commitment,
        "--gateway-key", f"@{directory / 'gateway.pub'}",
    ]  # fmt: skip


def run_cli(argv: list[str]) -> int:
    return main(argv)


def test_cli_verifies_good_files(world, tmp_path, capsys):
    argv = write_case(world, tmp_path / "case", world.proof)
    assert run_cli(argv) == 1
    assert "insecure_srs" in capsys.readouterr().err
    assert run_cli([*argv, "--allow-insecure-srs"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("VERIFIED") and out.count("ok  ") == 7
    # The SRS was accepted only because it was allowed: a warning, not `ok`.
    assert out.count("warning  SRS") == 1 and "ok  SRS" not in out
    assert run_cli([*argv, "--trust-srs", world.bundle.srs_identity(), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["verified"] is True and document["ok"] is True
    assert {check["status"] for check in document["checks"]} == {"ok"}


@pytest.mark.parametrize(
    ("proof", "message"),
    [(b"not json at all", "not valid JSON"), (b'{"instances": [["b5', "truncated")],
    ids=["malformed", "truncated"],
)
def test_cli_reports_unreadable_proof_files_with_exit_2(world, tmp_path, capsys, proof, message):
    argv = write_case(world, tmp_path / "case", proof)
    assert run_cli([*argv, "--allow-insecure-srs"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_reports_a_truncated_real_proof_with_exit_2(world, tmp_path, capsys):
    argv = write_case(world, tmp_path / "case", world.proof[: len(world.proof) // 2])
    assert run_cli([*argv, "--allow-insecure-srs"]) == 2
    assert "proof.json is not valid JSON" in capsys.readouterr().err


def test_verifying_imports_neither_onnxruntime_nor_torch(world, tmp_path):
    argv = write_case(world, tmp_path / "case", world.proof)
    script = textwrap.dedent(
        """
        import argparse, json, sys
        from zkgate.client.cli.parsers.verify import add_verify_command
        parser = argparse.ArgumentParser()
        add_verify_command(parser.add_subparsers())
        args = parser.parse_args(sys.argv[1:])
        code = args.func(args)
        print(json.dumps({"code": code, "heavy": sorted(
            m for m in ("torch", "onnxruntime") if m in sys.modules)}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *argv, "--allow-insecure-srs"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "heavy": []}


def test_hashed_inputs_are_read_and_checked_by_their_poseidon_hash(world, tmp_path):
    """Layout [H(x), outputs...] for input_visibility="hashed", against ezkl's own witness."""
    onnx_path = world.circuit.directory / "model.onnx"
    settings, compiled, data, witness = (
        tmp_path / name for name in ("settings.json", "compiled", "input.json", "witness.json")
    )
    run_args = ezkl.PyRunArgs()
    run_args.input_visibility = "hashed"
    run_args.param_visibility = "fixed"
    run_args.logrows = 12
    ezkl.gen_settings(str(onnx_path), str(settings), py_run_args=run_args)
    ezkl.compile_circuit(str(onnx_path), str(compiled), str(settings))
    data.write_text(json.dumps({"input_data": [X.ravel().tolist()]}))
    ezkl.gen_witness(str(data), str(compiled), str(witness))
    produced = json.loads(witness.read_text())
    input_hash = produced["processed_inputs"]["poseidon_hash"]
    layout = CircuitLayout.from_settings(settings.read_bytes())
    instances = split_instances(layout, [input_hash + produced["outputs"][0]])
    assert instances.inputs == [input_hash]
    assert instances.outputs == produced["outputs"]
    assert expected_input_felts(layout, 0, X) == input_hash
    assert expected_input_felts(layout, 0, OTHER_X) != input_hash
    with pytest.raises(InstanceLayoutError, match="need 4"):
        split_instances(layout, [produced["outputs"][0]])
