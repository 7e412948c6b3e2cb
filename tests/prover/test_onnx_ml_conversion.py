"""scikit-learn models exported with skl2onnx (ONNX-ML operators) rewritten as standard ONNX:
the rewrite computes what the original computes (onnxruntime on both), what it cannot rewrite
is refused by name, and ezkl proves the one comparison the tree rewrite uses exactly."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ezkl
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, Normalizer, StandardScaler
from sklearn.svm import SVC

from zkgate.core.card import (
    CardFormatError,
    Conversion,
    Fidelity,
    KeySizes,
    ModelCard,
    SrsInfo,
    TensorSpec,
    Visibility,
)
from zkgate.prover.circuits.batch_axis import fixed_row_graph
from zkgate.prover.circuits.onnx_ml.agreement import check_agreement
from zkgate.prover.circuits.onnx_ml.conversion import ML_DOMAIN, convert_onnx_ml
from zkgate.prover.circuits.onnx_ml.graph_writer import ConversionError
from zkgate.prover.circuits.registration_checks import RegistrationError

Data = tuple[np.ndarray, np.ndarray]


def _cancer() -> Data:
    x, y = load_breast_cancer(return_X_y=True)
    return x[:, :10].astype(np.float32), y


def _iris() -> Data:
    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y


def _diabetes() -> Data:
    x, y = load_diabetes(return_X_y=True)
    return x.astype(np.float32), y


# name -> (estimator factory, data, labels relabelled by)
CLASSIFIERS: dict[str, tuple[Callable[[], Any], Callable[[], Data], Callable[[Any], Any]]] = {
    "scaler+logistic": (
        lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        _cancer,
        lambda y: y,
    ),
    "gradient boosting (binary, LOGISTIC)": (
        lambda: GradientBoostingClassifier(n_estimators=4, max_depth=3, random_state=0),
        _cancer,
        lambda y: y,
    ),
    "random forest (binary, probabilities)": (
        lambda: RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0),
        _cancer,
        lambda y: y,
    ),
    "gradient boosting (3 classes, SOFTMAX)": (
        lambda: GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0),
        _iris,
        lambda y: y,
    ),
    "random forest, labels 5, 7, 9": (
        lambda: RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0),
        _iris,
        lambda y: 2 * y + 5,
    ),
    "logistic, labels -2 and 7": (
        lambda: LogisticRegression(max_iter=2000),
        _cancer,
        lambda y: np.where(y == 1, 7, -2),
    ),
    "minmax+normalizer+logistic (3 classes)": (
        lambda: make_pipeline(MinMaxScaler(), Normalizer(), LogisticRegression()),
        _iris,
        lambda y: y,
    ),
}
REGRESSORS: dict[str, Callable[[], Any]] = {
    "gradient boosting regressor": lambda: GradientBoostingRegressor(
        n_estimators=3, max_depth=3, random_state=0
    ),
    "random forest regressor (AVERAGE)": lambda: RandomForestRegressor(
        n_estimators=3, max_depth=3, random_state=0
    ),
    "scaler+linear regression": lambda: make_pipeline(StandardScaler(), LinearRegression()),
}


def _export(estimator: Any, x: np.ndarray, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx.save(to_onnx(estimator, x[:1]), path)
    return path


def _convert(original: Path) -> tuple[ort.InferenceSession, list[str]]:
    converted = convert_onnx_ml(original, original.with_name("converted.onnx"))
    assert converted is not None
    graph = onnx.load(str(converted.path))
    assert all(node.domain != ML_DOMAIN for node in graph.graph.node)
    assert all(opset.domain != ML_DOMAIN for opset in graph.opset_import)
    return ort.InferenceSession(str(converted.path)), converted.operators


def _rows(x: np.ndarray) -> list[np.ndarray]:
    """Calibration as registration has it: one array per input, N samples of one row each."""
    return [x.reshape(len(x), 1, -1)]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_a_classifier_is_rewritten_into_the_same_labels_and_probabilities(
    name: str, tmp_path: Path
) -> None:
    make, data, relabel = CLASSIFIERS[name]
    x, y = data()
    estimator = make().fit(x, relabel(y))
    original = _export(estimator, x, tmp_path / "model.onnx")
    session, operators = _convert(original)
    assert "ZipMap" in operators
    label, probabilities = session.run(None, {session.get_inputs()[0].name: x})
    # What scikit-learn itself predicts (labels exactly), and the ZipMap's maps as a tensor.
    np.testing.assert_array_equal(label, estimator.predict(x))
    np.testing.assert_allclose(probabilities, estimator.predict_proba(x), atol=1e-5)
    assert session.get_outputs()[1].type == "tensor(float)"
    agreement = check_agreement(original, session, _rows(x))
    assert agreement.samples == len(x) and agreement.max_abs_diff < 1e-5


@pytest.mark.parametrize("name", REGRESSORS)
def test_a_regressor_is_rewritten_into_the_same_values(name: str, tmp_path: Path) -> None:
    x, y = _diabetes()
    estimator = REGRESSORS[name]().fit(x, y)
    original = _export(estimator, x, tmp_path / "model.onnx")
    session, _ = _convert(original)
    (values,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(values.ravel(), estimator.predict(x), rtol=1e-5, atol=1e-3)
    check_agreement(original, session, _rows(x))


def _one_split_tree(path: Path, mode: str, threshold: float) -> Path:
    """One tree: the root splits feature 1 by `mode`; the score is 1 at leaf 1 (true) and 0
    at leaf 2 (false), for class 1, as skl2onnx writes a binary random forest."""
    node = helper.make_node(
        "TreeEnsembleClassifier",
        ["x"],
        ["label", "scores"],
        domain=ML_DOMAIN,
        nodes_treeids=[0, 0, 0],
        nodes_nodeids=[0, 1, 2],
        nodes_modes=[mode, "LEAF", "LEAF"],
        nodes_featureids=[1, 0, 0],
        nodes_values=[threshold, 0.0, 0.0],
        nodes_truenodeids=[1, 0, 0],
        nodes_falsenodeids=[2, 0, 0],
        class_treeids=[0, 0],
        class_nodeids=[1, 2],
        class_ids=[0, 0],
        class_weights=[1.0, 0.0],
        classlabels_int64s=[0, 1],
    )
    graph = helper.make_graph(
        [node],
        "tree",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 2]),
        ],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 9), helper.make_opsetid(ML_DOMAIN, 1)],
        ir_version=8,
    )
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("mode", ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT"])
def test_every_branch_mode_decides_as_the_original_at_its_threshold(
    mode: str, tmp_path: Path
) -> None:
    """At, just below and just above the threshold (one float32 step), the rewrite takes the
    branch onnxruntime's TreeEnsembleClassifier takes, at opset 9 (no LessOrEqual there)."""
    threshold = np.float32(0.3)
    near = [np.nextafter(threshold, -1), threshold, np.nextafter(threshold, 1)]
    x = np.array([[0.0, v] for v in [*near, -5.0, 5.0]], dtype=np.float32)
    original = _one_split_tree(tmp_path / "tree.onnx", mode, float(threshold))
    session, _ = _convert(original)
    want = ort.InferenceSession(str(original)).run(None, {"x": x})
    got = session.run(None, {"x": x})
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert len(set(want[0].tolist())) == 2


def test_an_unsupported_operator_is_named_with_the_way_forward(tmp_path: Path) -> None:
    x, y = _cancer()
    original = _export(SVC().fit(x, y), x, tmp_path / "svc.onnx")
    with pytest.raises(ConversionError, match="SVMClassifier") as info:
        convert_onnx_ml(original, tmp_path / "converted.onnx")
    assert isinstance(info.value, RegistrationError)
    assert "export a model built from those" in str(info.value)


def test_string_class_labels_are_refused_with_advice(tmp_path: Path) -> None:
    x, y = _iris()
    estimator = LogisticRegression().fit(x, np.array(["setosa", "versicolor", "virginica"])[y])
    original = _export(estimator, x, tmp_path / "model.onnx")
    with pytest.raises(ConversionError, match=r"string class labels.*LabelEncoder"):
        convert_onnx_ml(original, tmp_path / "converted.onnx")


def test_double_precision_inputs_are_refused_with_advice(tmp_path: Path) -> None:
    x, y = _cancer()
    estimator = LogisticRegression(max_iter=2000).fit(x, y)
    original = _export(estimator, x.astype(np.float64), tmp_path / "model.onnx")
    with pytest.raises(ConversionError, match="float32"):
        convert_onnx_ml(original, tmp_path / "converted.onnx")


def test_a_standard_graph_is_left_alone(tmp_path: Path) -> None:
    path = _one_split_tree(tmp_path / "tree.onnx", "BRANCH_LEQ", 0.5)
    _convert(path)
    assert convert_onnx_ml(path.with_name("converted.onnx"), tmp_path / "again.onnx") is None


def test_a_rewrite_that_disagrees_is_refused(tmp_path: Path) -> None:
    x, y = _cancer()
    original = _export(
        GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0).fit(x, y),
        x,
        tmp_path / "model.onnx",
    )
    converted = convert_onnx_ml(original, tmp_path / "converted.onnx")
    assert converted is not None
    # Every threshold moved: the decisions, and with them the labels, change.
    graph = onnx.load(str(converted.path))
    for index, tensor in enumerate(graph.graph.initializer):
        if tensor.name.endswith("/thresholds"):
            values = numpy_helper.to_array(tensor) * 0.5
            graph.graph.initializer[index].CopyFrom(numpy_helper.from_array(values, tensor.name))
    onnx.save(graph, tmp_path / "wrong.onnx")
    with pytest.raises(ConversionError, match="does not compute the same"):
        check_agreement(original, ort.InferenceSession(str(tmp_path / "wrong.onnx")), _rows(x))


def _card(conversion: Conversion | None) -> ModelCard:
    digest = "ab" * 32
    return ModelCard(
        name="sklearn",
        commitment=digest,
        ezkl_version="23.0.5",
        visibility=Visibility(input="public", output="public", param="fixed"),
        logrows=11,
        input_scale=8,
        output_scale=0,
        inputs=[TensorSpec("X", "FP32", [1, 10])],
        outputs=[TensorSpec("output_label", "INT64", [1])],
        fidelity=Fidelity(1, 0.0, 1.0, 0.0, "set by the test", 0.5),
        keys=KeySizes(proving_key_bytes=1000, verifying_key_bytes=100),
        prove_seconds=1.0,
        srs=SrsInfo(origin="insecure-dev", logrows=11, file_sha256=digest, identity=digest),
        onnx_sha256=digest,
        artifacts={},
        created_at=1.0,
        conversion=conversion,
    )


def test_the_card_records_the_conversion_and_reads_it_strictly() -> None:
    conversion = Conversion(
        tool="zkgate.onnx_ml",
        tool_version="1",
        strategy="gemm",
        original_onnx_sha256="cd" * 32,
        operators=["TreeEnsembleClassifier", "ZipMap"],
        samples=64,
        max_abs_diff=6e-8,
        served="converted",
    )
    card = _card(conversion)
    assert ModelCard.from_json(card.to_json()) == card
    # Absent, not null, without a conversion: such a card keeps its bytes.
    assert "conversion" not in json.loads(_card(None).to_json())
    # Not in the serving terms: the commitment does not depend on it.
    assert card.terms() == _card(None).terms()
    body = json.loads(card.to_json())
    body["conversion"]["extra"] = 1
    with pytest.raises(CardFormatError, match="extra"):
        ModelCard.from_json(json.dumps(body))
    body["conversion"].pop("extra")
    body["conversion"]["served"] = "something else"
    with pytest.raises(CardFormatError, match="served"):
        ModelCard.from_json(json.dumps(body))


@pytest.mark.parametrize("mode", ["BRANCH_LEQ", "BRANCH_LT"])
def test_ezkl_proves_the_rewritten_decisions_exactly_at_the_threshold(
    mode: str, tmp_path: Path
) -> None:
    """The rewrite's one comparison (`Greater`) in ezkl: at the threshold and one input
    quantum either side, the proven label is onnxruntime's; and a witness claiming the other
    label fails the constraints. The input scale (10) differs from the parameter scale (7), and
    the threshold is not a multiple of 2^-7."""
    threshold, quantum = 0.3, 2.0**-10
    original = _one_split_tree(tmp_path / "tree.onnx", mode, threshold)
    converted = convert_onnx_ml(original, tmp_path / "converted.onnx")
    assert converted is not None
    circuit = fixed_row_graph(converted.path, tmp_path / "row.onnx")
    settings, compiled = tmp_path / "settings.json", tmp_path / "compiled"
    run_args = ezkl.PyRunArgs()
    run_args.input_scale, run_args.param_scale, run_args.logrows = 10, 7, 12
    run_args.param_visibility = "fixed"
    assert ezkl.gen_settings(str(circuit), str(settings), py_run_args=run_args)
    assert ezkl.compile_circuit(str(circuit), str(compiled), str(settings))
    session = ort.InferenceSession(str(original))
    labels = []
    for feature in (threshold - quantum, threshold, threshold + quantum):
        x = np.array([[0.0, feature]], dtype=np.float32)
        (want,) = session.run(["label"], {"x": x})
        data, witness = tmp_path / "input.json", tmp_path / "witness.json"
        data.write_text(json.dumps({"input_data": [x.ravel().tolist()]}))
        ezkl.gen_witness(str(data), str(compiled), str(witness))
        proven = json.loads(witness.read_text())
        assert ezkl.felt_to_int(proven["outputs"][0][0]) == int(want[0])
        assert ezkl.mock(str(witness), str(compiled))
        flipped = 1 - int(want[0])
        proven["outputs"][0][0] = ezkl.float_to_felt(float(flipped), 0)
        witness.write_text(json.dumps(proven))
        with pytest.raises(RuntimeError):
            ezkl.mock(str(witness), str(compiled))
        labels.append(int(want[0]))
    assert len(set(labels)) == 2


def test_integer_features_are_cast_to_float(tmp_path: Path) -> None:
    x, y = _iris()
    counts = np.round(x * 10).astype(np.int64)
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(counts, y)
    original = _export(estimator, counts, tmp_path / "model.onnx")
    session, _ = _convert(original)
    assert session.get_inputs()[0].type == "tensor(int64)"
    (label, _) = session.run(None, {session.get_inputs()[0].name: counts})
    np.testing.assert_array_equal(label, estimator.predict(counts))
    check_agreement(original, session, [counts.reshape(len(counts), 1, -1)])
