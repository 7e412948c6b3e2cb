"""Models exported with a dynamic batch axis: registered at one row, refused if rows mix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from zkgate.core.card import ModelCard
from zkgate.core.fidelity_target import TuningEffort
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.circuits.registration import register_model
from zkgate.prover.circuits.registration_checks import RegistrationError
from zkgate.prover.circuits.srs_source import SrsSource


def _batch_graph(path: Path, nodes: list[onnx.NodeProto], width: int = 4) -> Path:
    """y = f(x) over x of shape [batch, width], batch symbolic as torch's dynamic_axes names it."""
    graph = helper.make_graph(
        nodes,
        "batched",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])],
        initializer=[
            helper.make_tensor("w", TensorProto.FLOAT, [width, width], np.eye(width).ravel() * 0.5)
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, path)
    return path


def _register(tmp_path: Path, onnx_path: Path, calibration: np.ndarray) -> ModelCard:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return register_model(
        "batched",
        onnx_path=onnx_path,
        calibration=calibration,
        store=ArtifactStore(tmp_path / "artifacts"),
        srs_source=SrsSource(tmp_path / "srs"),
        scratch=scratch,
        tuning=TuningEffort.NONE,
    )


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModelCard]:
    """A row-wise model registered from rows stacked on its own batch axis, shape (N, 4)."""
    folder = tmp_path_factory.mktemp("batch-axis")
    path = _batch_graph(
        folder / "rows.onnx",
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
    )
    calibration = np.random.default_rng(0).uniform(-1, 1, (16, 4)).astype(np.float32)
    return path, _register(folder, path, calibration)


def test_a_dynamic_batch_model_is_proven_at_one_row(rows: tuple[Path, ModelCard]) -> None:
    _, card = rows
    assert card.dynamic_batch
    assert [(s.name, s.shape) for s in card.inputs] == [("x", [1, 4])]
    assert [(s.name, s.shape) for s in card.outputs] == [("y", [1, 4])]
    assert card.fidelity.samples > 0


def test_the_served_graph_keeps_its_batch_axis(rows: tuple[Path, ModelCard]) -> None:
    path, card = rows
    store = ArtifactStore(path.parent / "artifacts")
    assert store.read_bytes(card.artifacts["onnx"]) == path.read_bytes()
    assert "dynamic_batch" in card.to_json()


def test_a_model_that_mixes_rows_is_refused(tmp_path: Path) -> None:
    # A Softmax over axis 0 makes each row's output depend on the others.
    path = _batch_graph(
        tmp_path / "mixing.onnx",
        [
            helper.make_node("MatMul", ["x", "w"], ["h"]),
            helper.make_node("Softmax", ["h"], ["y"], axis=0),
        ],
    )
    calibration = np.random.default_rng(1).uniform(-1, 1, (16, 4)).astype(np.float32)
    with pytest.raises(RegistrationError, match="mixes the rows of a batch"):
        _register(tmp_path, path, calibration)


def test_a_dynamic_batch_model_needs_two_calibration_rows(tmp_path: Path) -> None:
    path = _batch_graph(tmp_path / "one.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])])
    with pytest.raises(RegistrationError, match="at least 2 calibration samples"):
        _register(tmp_path, path, np.ones((1, 4), np.float32))
