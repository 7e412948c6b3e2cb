"""The bundled digits model is the fixture every proving test stands on; these checks catch a stale
or mis-exported artifact before a slow ezkl run does."""

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import numpy_helper

DIGITS_DIR = Path(__file__).resolve().parents[2] / "examples" / "digits"
ARTIFACTS = (
    "model.onnx",
    "calibration.npy",
    "test_inputs.npy",
    "test_labels.npy",
    "metrics.json",
)


@pytest.fixture(scope="module")
def session() -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(
        str(DIGITS_DIR / "model.onnx"), providers=["CPUExecutionProvider"]
    )


@pytest.fixture(scope="module")
def training_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("digits_train", DIGITS_DIR / "train.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def metrics() -> dict[str, Any]:
    return json.loads((DIGITS_DIR / "metrics.json").read_text())


def test_model_signature_is_one_float_row_in_ten_logits_out(session):
    (model_input,) = session.get_inputs()
    (model_output,) = session.get_outputs()
    assert (model_input.name, model_input.shape, model_input.type) == (
        "input",
        [1, 64],
        "tensor(float)",
    )
    assert (model_output.name, model_output.shape, model_output.type) == (
        "logits",
        [1, 10],
        "tensor(float)",
    )


def test_sample_files_match_the_model_input(metrics):
    calibration = np.load(DIGITS_DIR / "calibration.npy")
    inputs = np.load(DIGITS_DIR / "test_inputs.npy")
    labels = np.load(DIGITS_DIR / "test_labels.npy")
    assert calibration.dtype == inputs.dtype == np.float32
    assert calibration.shape == (metrics["calibration_size"], 1, 64)
    assert inputs.shape == (metrics["test_subset_size"], 1, 64)
    assert labels.dtype == np.int64
    assert labels.shape == (metrics["test_subset_size"],)
    assert set(labels.tolist()) == set(range(10))
    for samples in (calibration, inputs):
        assert samples.min() >= 0.0
        assert samples.max() <= 1.0


def test_subset_accuracy_matches_recorded_figure(session, metrics):
    inputs = np.load(DIGITS_DIR / "test_inputs.npy")
    labels = np.load(DIGITS_DIR / "test_labels.npy")
    predictions = [int(np.argmax(session.run(["logits"], {"input": row})[0])) for row in inputs]
    accuracy = float(np.mean(np.array(predictions) == labels))
    assert accuracy == pytest.approx(metrics["test_subset_accuracy"], abs=1e-12)
    assert metrics["test_accuracy"] >= 0.85
    assert metrics["test_size"] > metrics["test_subset_size"]


def initializers(model_path: Path) -> dict[str, np.ndarray]:
    graph = onnx.load(str(model_path)).graph
    return {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}


# Training is deterministic on one CPU, but MKL's float kernels round differently on different
# processors: 50 epochs on an AVX-512 machine land at most 1.4e-6 from weights trained on the
# one that made the committed model. Data, metrics and graph stay byte-identical.
WEIGHT_REPRODUCTION_TOLERANCE = 1e-5


def test_rerun_with_the_same_seed_reproduces_committed_artifacts(
    training_script, tmp_path, metrics
):
    training_script.train_and_export(tmp_path, metrics["seed"])
    for name in ARTIFACTS:
        if name != "model.onnx":
            assert (tmp_path / name).read_bytes() == (DIGITS_DIR / name).read_bytes(), name
    committed, retrained = (
        initializers(DIGITS_DIR / "model.onnx"),
        initializers(tmp_path / "model.onnx"),
    )
    assert committed.keys() == retrained.keys()
    for name, weights in committed.items():
        assert np.allclose(retrained[name], weights, rtol=0, atol=WEIGHT_REPRODUCTION_TOLERANCE)
    structure = [onnx.load(str(d / "model.onnx")).graph.node for d in (DIGITS_DIR, tmp_path)]
    assert structure[0] == structure[1]


def test_another_seed_keeps_architecture_and_data_but_changes_weights(
    training_script, tmp_path, metrics
):
    other = training_script.train_and_export(tmp_path, metrics["seed"] + 1)
    assert other["architecture"] == metrics["architecture"]
    assert other["test_accuracy"] >= 0.85
    committed = initializers(DIGITS_DIR / "model.onnx")
    retrained = initializers(tmp_path / "model.onnx")
    assert {name: w.shape for name, w in retrained.items()} == {
        name: w.shape for name, w in committed.items()
    }
    assert all(not np.array_equal(retrained[name], committed[name]) for name in committed)
    for name in ("calibration.npy", "test_inputs.npy", "test_labels.npy"):
        assert (tmp_path / name).read_bytes() == (DIGITS_DIR / name).read_bytes(), name
