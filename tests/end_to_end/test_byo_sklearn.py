"""scikit-learn models, exported with skl2onnx as ONNX-ML graphs, registered with `zkgate models
add`, served to a stock Open Inference Protocol client, and proven and verified with `zkgate
infer --verify`: a logistic regression behind a StandardScaler, and a small gradient-boosted
tree ensemble, on the bundled breast-cancer data. An operator zkgate cannot rewrite is refused
by name.

What is served is the rewritten graph (the card says so), so the verified label and
probabilities are those the client was served, and they are scikit-learn's own predictions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import tritonclient.grpc as triton
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from tests.fixtures.gateway_fixtures import RunningGateway
from zkgate.client.cli.main import main
from zkgate.core.card import ModelCard
from zkgate.core.srs import file_sha256

FEATURES = 10
CALIBRATION_ROWS = 64
ESTIMATORS: dict[str, Callable[[], Any]] = {
    "sklearn-logistic": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    "sklearn-trees": lambda: GradientBoostingClassifier(
        n_estimators=4, max_depth=3, random_state=0
    ),
}


@dataclass(frozen=True)
class SklearnExport:
    name: str
    estimator: Any
    onnx: Path
    calibration: Path
    held_out: np.ndarray


def breast_cancer_split() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first 10 raw features (no standardization: the logistic model carries its own
    Scaler); even rows train, odd rows are held out."""
    x, y = load_breast_cancer(return_X_y=True)
    x = x[:, :FEATURES].astype(np.float32)
    return x[::2], y[::2], x[1::2]


def export(name: str, estimator: Any, folder: Path) -> Path:
    train_x, _, _ = breast_cancer_split()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx.save(to_onnx(estimator, train_x[:1]), folder / f"{name}.onnx")
    return folder / f"{name}.onnx"


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SklearnExport]:
    folder = tmp_path_factory.mktemp("sklearn")
    train_x, train_y, held_out = breast_cancer_split()
    # Calibration rows stacked on the model's own batch axis, shape (64, 10), as a user has them.
    np.save(folder / "calibration.npy", train_x[:CALIBRATION_ROWS])
    found = {}
    for name, make in ESTIMATORS.items():
        estimator = make().fit(train_x, train_y)
        found[name] = SklearnExport(
            name, estimator, export(name, estimator, folder), folder / "calibration.npy", held_out
        )
    return found


@pytest.fixture(scope="module")
def registered(gateway: RunningGateway, exports: dict[str, SklearnExport]) -> dict[str, ModelCard]:
    """Both models registered through the CLI, tuned `fast`."""
    cards = {}
    for name, model in exports.items():
        status = main(
            [
                *("models", "add", name, str(model.onnx)),
                *("--calibration", str(model.calibration), "--tuning", "fast"),
                *("--target", gateway.target),
            ]
        )
        assert status == 0, gateway.log_path.read_text()[-3000:]
        with gateway.client() as client:
            cards[name] = ModelCard.from_json(client.model(name).card_json)
    return cards


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_the_card_states_the_conversion_and_serves_the_rewrite(
    registered: dict[str, ModelCard], exports: dict[str, SklearnExport], name: str
) -> None:
    card = registered[name]
    assert card.conversion is not None
    assert card.conversion.served == "converted"
    assert card.conversion.tool == "zkgate.onnx_ml" and card.conversion.strategy == "gemm"
    assert card.conversion.original_onnx_sha256 == file_sha256(exports[name].onnx)
    assert card.onnx_sha256 != card.conversion.original_onnx_sha256
    assert "ZipMap" in card.conversion.operators
    assert card.conversion.samples == CALIBRATION_ROWS
    assert card.conversion.max_abs_diff < 1e-5
    assert card.dynamic_batch
    assert [(t.name, t.datatype, t.shape) for t in card.outputs] == [
        ("output_label", "INT64", [1]),
        ("output_probability", "FP32", [1, 2]),
    ]


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_a_stock_client_gets_scikit_learns_predictions(
    gateway: RunningGateway,
    registered: dict[str, ModelCard],
    exports: dict[str, SklearnExport],
    name: str,
) -> None:
    model = exports[name]
    rows = model.held_out[:4]
    client = triton.InferenceServerClient(gateway.target)
    assert client.is_model_ready(name)
    tensor = triton.InferInput("X", [4, FEATURES], "FP32")
    tensor.set_data_from_numpy(rows)
    result = client.infer(name, [tensor])
    labels = result.as_numpy("output_label")
    probabilities = result.as_numpy("output_probability")
    client.close()
    assert labels is not None and probabilities is not None
    np.testing.assert_array_equal(labels, model.estimator.predict(rows))
    np.testing.assert_allclose(probabilities, model.estimator.predict_proba(rows), atol=1e-5)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_the_cli_proves_and_verifies_what_was_served(
    gateway: RunningGateway,
    registered: dict[str, ModelCard],
    exports: dict[str, SklearnExport],
    name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model, card = exports[name], registered[name]
    row = model.held_out[7:8]
    np.save(tmp_path / "x.npy", row)
    status = main(
        [
            *("infer", name, "--input", str(tmp_path / "x.npy"), "--prove", "--verify"),
            *("--commitment", card.commitment, "--allow-insecure-srs"),
            *("--target", gateway.target),
        ]
    )
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert "VERIFIED" in out
    # The proven outputs are the served ones: the label exactly, the probabilities within the
    # card's tolerance; and both are scikit-learn's.
    with gateway.client() as client:
        prediction = client.infer(name, {"X": row}, prove=True)
        proof = client.wait_for_job(prediction.job_id, timeout=600).proof
        verified = client.verify(
            prediction, proof, pinned_commitment=card.commitment, allow_insecure_srs=True
        )
    served = {tensor.name: tensor.array for tensor in prediction.outputs}
    proven = {tensor.name: tensor.array for tensor in verified.proven_outputs}
    expected = int(model.estimator.predict(row)[0])
    assert int(served["output_label"].ravel()[0]) == expected
    assert int(proven["output_label"].ravel()[0]) == expected
    gap = np.abs(proven["output_probability"] - served["output_probability"]).max()
    assert gap <= card.fidelity.output_tolerances(card.outputs)[1]


def test_an_operator_without_a_rewrite_is_refused_by_name(
    gateway: RunningGateway,
    exports: dict[str, SklearnExport],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    train_x, train_y, _ = breast_cancer_split()
    path = export("svc", SVC().fit(train_x, train_y), tmp_path)
    calibration = exports["sklearn-logistic"].calibration
    status = main(
        [
            *("models", "add", "sklearn-svc", str(path), "--calibration", str(calibration)),
            *("--tuning", "none", "--target", gateway.target),
        ]
    )
    err = capsys.readouterr().err
    assert status == 1
    assert "SVMClassifier" in err and "cannot rewrite" in err
