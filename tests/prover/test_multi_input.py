"""Registering models with several inputs and outputs, and integer (class-label) outputs, on the
prover with real ezkl and onnxruntime; and the calibration data such models take (.npz)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.byo_inputs_fixtures import (
    CALIBRATION_SAMPLES,
    WIDTH_A,
    WIDTH_B,
    npz_bytes,
    samples,
    two_input_graph,
)
from zkgate.core.card import ARGMAX, EXACT, ModelCard, TensorSpec
from zkgate.core.fidelity_target import TuningEffort
from zkgate.core.npz_arrays import MAX_MEMBERS, load_npz
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.circuits.model_signature import ModelSignature, calibration_samples
from zkgate.prover.circuits.registration import register_model
from zkgate.prover.circuits.registration_checks import RegistrationError, load_calibration
from zkgate.prover.circuits.srs_source import SrsSource

A = TensorSpec("a", "FP32", [1, WIDTH_A])
B = TensorSpec("b", "FP32", [1, WIDTH_B])
OUTPUTS = [TensorSpec("logits", "FP32", [1, 3]), TensorSpec("label", "INT64", [1, 1])]
SIGNATURE = ModelSignature(inputs=[A, B], outputs=OUTPUTS)


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelCard, ArtifactStore]:
    """The two-input, two-output model, tuned (`fast`) and with a batch circuit of 2, from a
    .npz whose arrays are saved in the other order than the model's."""
    folder = tmp_path_factory.mktemp("multi-input")
    scratch = folder / "scratch"
    scratch.mkdir()
    store = ArtifactStore(folder / "artifacts")
    calibration = load_calibration(
        npz_bytes(
            b=samples(CALIBRATION_SAMPLES, WIDTH_B, 1), a=samples(CALIBRATION_SAMPLES, WIDTH_A, 0)
        )
    )
    card = register_model(
        "two-inputs",
        onnx_path=two_input_graph(folder / "model.onnx"),
        calibration=calibration,
        store=store,
        srs_source=SrsSource(folder / "srs"),
        scratch=scratch,
        batch_size=2,
        tuning=TuningEffort.FAST,
    )
    return card, store


def test_every_input_and_output_is_on_the_card_in_the_models_order(
    registered: tuple[ModelCard, ArtifactStore],
) -> None:
    card, store = registered
    assert card.inputs == [A, B]
    assert card.outputs == OUTPUTS
    settings = json.loads(store.read_bytes(card.artifacts["settings"]))
    assert settings["model_instance_shapes"] == [[1, WIDTH_A], [1, WIDTH_B], [1, 3], [1, 1]]
    assert card.input_scale == max(settings["model_input_scales"])
    assert len(settings["model_output_scales"]) == 2
    assert ModelCard.from_json(card.to_json()) == card


def test_an_integer_output_is_held_to_equality_and_a_float_one_to_its_gap(
    registered: tuple[ModelCard, ArtifactStore],
) -> None:
    card, _ = registered
    fidelity = card.fidelity
    assert fidelity.outputs is not None
    logits, label = fidelity.outputs
    assert (label.name, label.comparison, label.tolerance) == ("label", EXACT, 0.0)
    assert label.agreement >= 0.95
    assert (logits.name, logits.comparison) == ("logits", ARGMAX)
    assert 0 < logits.tolerance < 0.1, "a float output's tolerance follows its own scale"
    assert fidelity.tolerance == logits.tolerance
    assert fidelity.argmax_agreement == min(logits.agreement, label.agreement)
    assert card.fidelity.output_tolerances(card.outputs) == [logits.tolerance, 0.0]
    assert b'"comparison":"exact"' in card.terms(), "the commitment covers each tolerance"


def test_tuning_and_the_batch_circuit_take_every_input(
    registered: tuple[ModelCard, ArtifactStore],
) -> None:
    card, store = registered
    assert card.tuning is not None and card.tuning.chosen.logrows == card.logrows
    assert card.batch is not None
    batch_settings = json.loads(store.read_bytes(card.batch.artifacts["settings"]))
    assert len(batch_settings["model_input_scales"]) == 2 * 2
    assert len(batch_settings["model_output_scales"]) == 2 * 2


def test_a_card_from_before_per_output_fidelity_keeps_its_bytes(
    registered: tuple[ModelCard, ArtifactStore],
) -> None:
    card, _ = registered
    document = json.loads(card.to_json())
    del document["fidelity"]["outputs"]
    old = ModelCard.from_json(json.dumps(document))
    assert old.fidelity.outputs is None
    assert "outputs" not in json.loads(old.to_json())["fidelity"]
    assert b'"outputs":null' not in old.terms()
    # Integer outputs are compared exactly even where the card has one tolerance for all.
    assert old.fidelity.output_tolerances(old.outputs) == [old.fidelity.tolerance, 0.0]


def test_a_two_input_model_with_a_dynamic_batch_axis_registers_from_stacked_rows(
    tmp_path: Path,
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    calibration = load_calibration(
        npz_bytes(
            a=samples(16, WIDTH_A, 3).reshape(16, WIDTH_A),
            b=samples(16, WIDTH_B, 4).reshape(16, WIDTH_B),
        )
    )
    card = register_model(
        "two-inputs-rows",
        onnx_path=two_input_graph(tmp_path / "rows.onnx", dynamic_batch=True),
        calibration=calibration,
        store=ArtifactStore(tmp_path / "artifacts"),
        srs_source=SrsSource(tmp_path / "srs"),
        scratch=scratch,
        tuning=TuningEffort.NONE,
    )
    assert card.dynamic_batch
    assert [s.shape for s in card.inputs] == [[1, WIDTH_A], [1, WIDTH_B]]
    assert [s.shape for s in card.outputs] == [[1, 3], [1, 1]]


def test_calibration_arrays_are_taken_in_the_models_input_order() -> None:
    a, b = samples(5, WIDTH_A, 0), samples(5, WIDTH_B, 1)
    taken = calibration_samples(load_calibration(npz_bytes(b=b, a=a)), SIGNATURE)
    assert [s.name for s in taken.specs] == ["a", "b"]
    np.testing.assert_array_equal(taken.arrays[0], a)
    np.testing.assert_array_equal(taken.arrays[1], b)
    assert taken.feeds(3)["b"].shape == (1, WIDTH_B)


def test_rows_stacked_on_a_dynamic_batch_axis_are_samples_of_every_input() -> None:
    dynamic = ModelSignature(inputs=[A, B], outputs=OUTPUTS, dynamic_batch=True)
    a = np.zeros((6, WIDTH_A), np.float32)
    b = np.zeros((6, 1, WIDTH_B), np.float32)
    taken = calibration_samples(load_calibration(npz_bytes(a=a, b=b)), dynamic)
    assert [array.shape for array in taken.arrays] == [(6, 1, WIDTH_A), (6, 1, WIDTH_B)]


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"a": samples(4, WIDTH_A, 0)}, r"no array for input\(s\) \['b'\]"),
        (
            {"a": samples(4, WIDTH_A, 0), "b": samples(4, WIDTH_B, 1), "c": samples(4, 2, 2)},
            r"array\(s\) \['c'\] name no input",
        ),
        ({"a": samples(4, WIDTH_A, 0), "b": samples(4, WIDTH_A, 1)}, r"input 'b' has shape"),
        ({"a": samples(4, WIDTH_A, 0), "b": samples(3, WIDTH_B, 1)}, "different numbers"),
        (
            {"a": samples(4, WIDTH_A, 0), "b": np.full((4, 1, WIDTH_B), np.nan, np.float32)},
            "NaN",
        ),
    ],
)
def test_calibration_that_does_not_fit_the_inputs_is_refused(
    arrays: dict[str, np.ndarray], message: str
) -> None:
    with pytest.raises(RegistrationError, match=message):
        calibration_samples(load_calibration(npz_bytes(**arrays)), SIGNATURE)


def test_one_npy_array_is_refused_for_a_model_with_two_inputs() -> None:
    with pytest.raises(RegistrationError, match=r"send calibration data as \.npz"):
        calibration_samples(samples(4, WIDTH_A, 0), SIGNATURE)


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_npz_limits_hold_against_hostile_archives() -> None:
    with pytest.raises(ValueError, match=f"1 to {MAX_MEMBERS}"):
        load_npz(_zip({f"x{i}.npy": b"" for i in range(MAX_MEMBERS + 1)}), "data")
    with pytest.raises(ValueError, match=r"is not a \.npy array"):
        load_npz(_zip({"notes.txt": b"hello"}), "data")
    truncated = npz_bytes(a=np.zeros((4, 4), np.float32))[:-30]
    with pytest.raises(ValueError, match=r"not a \.npz archive"):
        load_npz(truncated, "data")
