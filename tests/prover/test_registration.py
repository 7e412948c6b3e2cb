"""Registering models on the prover with real ezkl and onnxruntime."""

from __future__ import annotations

import importlib.metadata
import io
import json
from pathlib import Path

import ezkl
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from tests.fixtures.prover_fixtures import DIGITS_DIR, ProverNode
from zkgate.core.card import SRS_ORIGIN_DEV, ModelCard
from zkgate.core.commitment import model_commitment
from zkgate.core.srs import file_sha256, srs_identity, srs_logrows, verifier_slice
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.circuits.fidelity import FIDELITY_SAMPLES
from zkgate.prover.circuits.registration import register_model
from zkgate.prover.circuits.registration_checks import RegistrationError
from zkgate.prover.circuits.srs_files import CeremonySrs, SrsError
from zkgate.prover.circuits.srs_source import SrsSource
from zkgate.prover.queue.catalog import ModelState
from zkgate.prover.queue.jobs import JobKind
from zkgate.prover.worker.loop import DeterministicJobError


def _register(tmp_path: Path, **overrides: object) -> ModelCard:
    """register_model on a fresh store, for the refusals, which all happen before any key."""
    arguments: dict[str, object] = {
        "onnx_path": DIGITS_DIR / "model.onnx",
        "calibration": np.load(DIGITS_DIR / "calibration.npy"),
        "store": ArtifactStore(tmp_path / "artifacts"),
        "srs_source": SrsSource(tmp_path / "srs"),
        "scratch": tmp_path,
        **overrides,
    }
    return register_model("refused", **arguments)  # type: ignore[arg-type]


def test_card_commitment_recomputes_from_stored_artifacts(
    prover_node: ProverNode, prover_digits: ModelCard
) -> None:
    store, card = prover_node.store, prover_digits
    verifying_key = store.read_bytes(card.artifacts["vk"])
    settings = store.read_bytes(card.artifacts["settings"])
    srs_slice = store.read_bytes(card.artifacts["srs_slice"])
    assert card.commitment == model_commitment(
        verifying_key=verifying_key,
        settings=settings,
        srs_identity=srs_identity(srs_slice),
        ezkl_version=importlib.metadata.version("ezkl"),
        serving_terms=card.terms(),
    )
    assert prover_node.catalog.get("digits").commitment == card.commitment
    assert card.srs.identity == srs_identity(srs_slice)
    # The slice is the one cut from the stored SRS the keys were made with.
    assert verifier_slice(store.read_bytes(card.srs.file_sha256)) == srs_slice
    assert card.onnx_sha256 == card.artifacts["onnx"]
    assert store.read_bytes(card.onnx_sha256) == (DIGITS_DIR / "model.onnx").read_bytes()
    assert card.keys.verifying_key_bytes == len(verifying_key)
    assert card.keys.proving_key_bytes == store.size(card.artifacts["pk"]) > 1_000_000


def test_card_describes_the_circuit(prover_digits: ModelCard) -> None:
    card = prover_digits
    assert card.ezkl_version == importlib.metadata.version("ezkl")
    assert (card.visibility.input, card.visibility.output, card.visibility.param) == (
        "public",
        "public",
        "fixed",
    )
    assert [(t.name, t.datatype, t.shape) for t in card.inputs] == [("input", "FP32", [1, 64])]
    assert [(t.name, t.datatype, t.shape) for t in card.outputs] == [("logits", "FP32", [1, 10])]
    assert 10 <= card.logrows <= 17
    assert card.srs.origin == SRS_ORIGIN_DEV
    assert card.insecure_srs
    assert card.srs.logrows == card.logrows
    assert card.prove_seconds > 0
    # Measured in a process of its own: ezkl and an interpreter are far above 10 MB.
    assert card.prove_peak_rss_bytes is not None and card.prove_peak_rss_bytes > 10 * 2**20


def test_fidelity_is_measured_against_onnxruntime(prover_digits: ModelCard) -> None:
    fidelity = prover_digits.fidelity
    assert fidelity.samples == FIDELITY_SAMPLES
    assert fidelity.false_rejection_bound == pytest.approx(1 / (FIDELITY_SAMPLES + 1))
    assert f"over {FIDELITY_SAMPLES} inputs" in fidelity.method
    # The tuner keeps the cheapest circuit meeting argmax agreement of 99% on held-out samples,
    # not the finest scale: a gap of a few tenths on logits of about 10, here measured on the
    # calibration rows and on random inputs from their box.
    assert 0 < fidelity.max_abs_diff < 0.5
    assert fidelity.argmax_agreement >= 0.95
    step = 2.0**-prover_digits.output_scale
    assert fidelity.tolerance == pytest.approx(2 * fidelity.max_abs_diff + 4 * step)


def test_honest_outputs_on_random_inputs_stay_within_the_committed_tolerance(
    prover_node: ProverNode, prover_digits: ModelCard, tmp_path: Path
) -> None:
    """The tolerance used to be the worst gap on 16 calibration rows, and 1 honest prediction in
    20 on random inputs exceeded it. Here 400 random inputs (not calibration data) go through
    the committed circuit's witness, which is what a proof shows, and onnxruntime."""
    compiled = tmp_path / "compiled.ezkl"
    compiled.write_bytes(prover_node.store.read_bytes(prover_digits.artifacts["compiled"]))
    settings = json.loads(prover_node.store.read_bytes(prover_digits.artifacts["settings"]))
    session = ort.InferenceSession(str(DIGITS_DIR / "model.onnx"))
    rng = np.random.default_rng(2026)
    worst = 0.0
    for index in range(400):
        x = rng.random((1, 64), dtype=np.float32)
        data, witness = tmp_path / f"x{index}.json", tmp_path / f"w{index}.json"
        data.write_text(json.dumps({"input_data": [x.ravel().tolist()]}))
        ezkl.gen_witness(str(data), str(compiled), str(witness))
        felts = json.loads(witness.read_text())["outputs"][0]
        proven = np.array(
            [ezkl.felt_to_float(f, settings["model_output_scales"][0]) for f in felts]
        )
        (served,) = session.run(None, {"input": x})
        worst = max(worst, float(np.max(np.abs(proven - served.ravel()))))
    assert worst <= prover_digits.fidelity.tolerance


def test_stored_settings_match_the_card(prover_node: ProverNode, prover_digits: ModelCard) -> None:
    settings = json.loads(prover_node.store.read_bytes(prover_digits.artifacts["settings"]))
    assert settings["run_args"]["logrows"] == prover_digits.logrows
    assert settings["model_input_scales"] == [prover_digits.input_scale]
    assert settings["model_output_scales"] == [prover_digits.output_scale]
    srs = prover_node.store.read_bytes(prover_digits.artifacts["srs"])
    assert srs_logrows(srs) == prover_digits.logrows


def test_private_params_are_refused_because_they_do_not_bind_the_model(tmp_path: Path) -> None:
    with pytest.raises(RegistrationError, match="do not bind the model") as refused:
        _register(tmp_path, param_visibility="private")
    assert "other weights verifies" in str(refused.value)


@pytest.mark.parametrize("visibility", ["hashed", "polycommit", "public"])
def test_other_param_visibilities_are_refused(tmp_path: Path, visibility: str) -> None:
    with pytest.raises(RegistrationError, match=f"param_visibility '{visibility}' refused"):
        _register(tmp_path, param_visibility=visibility)


def test_too_small_logrows_cap_is_refused_with_advice(tmp_path: Path) -> None:
    with pytest.raises(RegistrationError, match=r"2\^6 rows: raise max_logrows"):
        _register(tmp_path, max_logrows=6)
    assert not (tmp_path / "srs").exists()


def test_malformed_onnx_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(RegistrationError, match="onnxruntime cannot load the model"):
        _register(tmp_path, onnx_path=broken)


def test_dynamic_axes_past_the_batch_axis_are_refused(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "dynamic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "width"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "width"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = tmp_path / "dynamic.onnx"
    onnx.save(model, path)
    ort.InferenceSession(str(path))  # a valid model: only its shape is refused
    with pytest.raises(RegistrationError, match=r"dynamic dimension.*except a batch axis 0"):
        _register(tmp_path, onnx_path=path, calibration=np.zeros((2, 1, 4), np.float32))


@pytest.mark.parametrize("shape", [(32, 64), (32, 1, 63), (0, 1, 64)])
def test_calibration_of_the_wrong_shape_is_refused(tmp_path: Path, shape: tuple[int, ...]) -> None:
    with pytest.raises(RegistrationError, match="calibration data"):
        _register(tmp_path, calibration=np.zeros(shape, np.float32))


def test_register_job_with_private_params_fails_the_model(prover_node: ProverNode) -> None:
    job = prover_node.start_registration(
        "digits-private",
        onnx=(DIGITS_DIR / "model.onnx").read_bytes(),
        calibration=(DIGITS_DIR / "calibration.npy").read_bytes(),
        param_visibility="private",
    )
    with pytest.raises(DeterministicJobError, match="do not bind the model"):
        prover_node.run_next(JobKind.REGISTER)
    record = prover_node.catalog.get("digits-private")
    assert record.state == ModelState.FAILED
    assert record.error is not None and "do not bind the model" in record.error
    assert record.registration_job_id == job.id


def test_register_job_with_a_pickled_calibration_file_is_refused(prover_node: ProverNode) -> None:
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"not": "numbers"}], dtype=object), allow_pickle=True)
    prover_node.start_registration(
        "digits-pickled",
        onnx=(DIGITS_DIR / "model.onnx").read_bytes(),
        calibration=pickled.getvalue(),
    )
    with pytest.raises(DeterministicJobError, match=r"not a \.npy array"):
        prover_node.run_next(JobKind.REGISTER)
    assert prover_node.catalog.get("digits-pickled").state == ModelState.FAILED


@pytest.fixture(scope="module")
def small_srs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ceremony") / "kzg6.srs"
    ezkl.gen_srs(str(path), 6)
    return path


def test_ceremony_srs_is_used_when_its_pin_matches(small_srs: Path, tmp_path: Path) -> None:
    pinned = CeremonySrs(path=small_srs, sha256=file_sha256(small_srs))
    resolved = SrsSource(tmp_path / "cache", pinned).resolve(5)
    assert (resolved.path, resolved.origin, resolved.logrows) == (small_srs, "ceremony", 6)
    assert resolved.file_sha256 == pinned.sha256
    assert not (tmp_path / "cache").exists()


def test_ceremony_srs_with_another_hash_is_refused(small_srs: Path, tmp_path: Path) -> None:
    wrong = CeremonySrs(path=small_srs, sha256="0" * 64)
    with pytest.raises(SrsError, match="replaced or corrupted"):
        SrsSource(tmp_path, wrong).resolve(6)


def test_ceremony_srs_smaller_than_the_circuit_is_refused(small_srs: Path, tmp_path: Path) -> None:
    pinned = CeremonySrs(path=small_srs, sha256=file_sha256(small_srs))
    with pytest.raises(SrsError, match="has logrows 6 but the circuit needs 7"):
        SrsSource(tmp_path, pinned).resolve(7)


def test_a_registration_may_name_only_srs_files_in_the_srs_directory(
    small_srs: Path, tmp_path: Path
) -> None:
    """The path comes from a remote caller: elsewhere it could probe the prover's files."""
    srs_dir = tmp_path / "srs"
    srs_dir.mkdir()
    inside = srs_dir / "ceremony-k6.srs"
    inside.write_bytes(small_srs.read_bytes())
    sha = file_sha256(small_srs)
    source = SrsSource(srs_dir)
    for outside in (small_srs, srs_dir / ".." / small_srs.name, Path("/etc/passwd")):
        with pytest.raises(SrsError, match="inside the provers' SRS directory"):
            source.resolve(6, ceremony=CeremonySrs(path=outside, sha256=sha))
    for named in (inside, Path("ceremony-k6.srs")):
        resolved = source.resolve(6, ceremony=CeremonySrs(path=named, sha256=sha))
        assert (resolved.path, resolved.origin) == (inside.resolve(), "ceremony")


def test_development_srs_is_generated_once_per_logrows(tmp_path: Path) -> None:
    source = SrsSource(tmp_path)
    first = source.resolve(5)
    again = source.resolve(5)
    assert first == again
    assert (first.origin, first.logrows) == (SRS_ORIGIN_DEV, 5)
    assert [p.name for p in tmp_path.iterdir()] == ["dev-k5.srs"]
