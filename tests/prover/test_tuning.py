"""Circuit tuning on the bundled digits model: the card records a search whose winner is the
fastest measured candidate meeting the target, the stored settings are the winner's, and a
target no circuit meets fails with the measurements that say so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.prover_fixtures import DIGITS_DIR, ProverNode
from zkgate.core.card import ModelCard
from zkgate.core.fidelity_target import (
    FidelityTargetError,
    TuningEffort,
    parse_fidelity_target,
    parse_tuning_effort,
)
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.circuits.circuit_files import CircuitFiles
from zkgate.prover.circuits.keying import MeasuredKeys
from zkgate.prover.circuits.proof_measurement import ProofMeasurement
from zkgate.prover.circuits.registration import register_model
from zkgate.prover.circuits.registration_checks import RegistrationError
from zkgate.prover.circuits.srs_source import SrsSource
from zkgate.prover.circuits.tuning import better


def _register(node: ProverNode, tmp_path: Path, **options: object) -> ModelCard:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return register_model(
        "tuned",
        onnx_path=DIGITS_DIR / "model.onnx",
        calibration=np.load(DIGITS_DIR / "calibration.npy"),
        store=ArtifactStore(tmp_path / "artifacts"),
        # The node's cache: development SRS files of each logrows are made once per session.
        srs_source=SrsSource(node.layout.srs_cache),
        scratch=scratch,
        **options,  # type: ignore[arg-type]
    )


def test_the_card_records_the_search_and_the_winner_is_the_fastest_measured(
    prover_node: ProverNode, prover_digits: ModelCard
) -> None:
    tuning = prover_digits.tuning
    assert tuning is not None
    assert tuning.effort == "fast"
    assert tuning.target == "argmax:0.99 on 16 held-out calibration samples"
    chosen = [c for c in tuning.candidates if c.outcome.startswith("chosen")]
    assert [c.layout for c in chosen] == [tuning.chosen]
    measured = [c.prove_seconds for c in tuning.candidates if c.prove_seconds is not None]
    assert len(measured) >= 2
    assert chosen[0].prove_seconds == min(measured)
    assert chosen[0].fidelity is not None and chosen[0].fidelity >= 0.99
    assert any(c.outcome.startswith("pruned") for c in tuning.candidates)
    assert any(c.outcome.startswith("scale probe") for c in tuning.candidates)
    # What is stored and committed is the winner, not a re-calibrated neighbour.
    settings = json.loads(prover_node.store.read_bytes(prover_digits.artifacts["settings"]))
    run_args = settings["run_args"]
    layout = tuning.chosen
    assert (
        run_args["input_scale"],
        run_args["param_scale"],
        run_args["decomp_base"],
        run_args["decomp_legs"],
        run_args["num_inner_cols"],
        run_args["logrows"],
    ) == (
        layout.input_scale,
        layout.param_scale,
        layout.decomp_base,
        layout.decomp_legs,
        layout.num_inner_cols,
        layout.logrows,
    )
    assert prover_digits.logrows == layout.logrows
    assert prover_digits.prove_seconds == chosen[0].prove_seconds
    # ezkl's default layout (2^14-row range table) is in the record, measured as far costlier.
    assert layout.logrows < 15


def test_a_max_abs_target_is_met_on_held_out_samples(
    prover_node: ProverNode, tmp_path: Path
) -> None:
    card = _register(prover_node, tmp_path, fidelity_target=parse_fidelity_target("max-abs:0.05"))
    assert card.tuning is not None
    assert card.tuning.target.startswith("max-abs:0.05 ")
    chosen = next(c for c in card.tuning.candidates if c.outcome.startswith("chosen"))
    assert chosen.fidelity is not None and chosen.fidelity <= 0.05
    # Finer than what argmax agreement alone needs (scale 7 on this model).
    assert card.tuning.chosen.input_scale > 7
    # Every measured candidate's proving key is gone: losers deleted, the winner's moved into
    # the store.
    measured = [c for c in card.tuning.candidates if c.prove_seconds is not None]
    assert len(measured) >= 2
    assert not list((tmp_path / "scratch").rglob("pk.key"))


def test_a_target_no_circuit_meets_fails_with_the_measurements(
    prover_node: ProverNode, tmp_path: Path
) -> None:
    with pytest.raises(RegistrationError) as caught:
        _register(prover_node, tmp_path, fidelity_target=parse_fidelity_target("max-abs:1e-9"))
    message = str(caught.value)
    assert "no circuit meets the fidelity target max-abs:1e-09" in message
    # Fast tuning probes four scales, from ezkl's default 7 upwards.
    assert "scale 7: max |diff|" in message and "scale 10: max |diff|" in message
    assert "relax the target" in message and "--tuning thorough probes more" in message


def test_tuning_none_keeps_ezkls_own_calibration(prover_node: ProverNode, tmp_path: Path) -> None:
    card = _register(prover_node, tmp_path, tuning=TuningEffort.NONE)
    assert card.tuning is None
    assert card.fidelity.argmax_agreement >= 0.95


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("argmax:1.5", "must be in (0, 1]"),
        ("argmax:0", "must be in (0, 1]"),
        ("max-abs:-1", "positive finite"),
        ("max-abs:nan", "positive finite"),
        ("max-abs:inf", "positive finite"),
        ("max-abs", "use 'argmax'"),
        ("top5", "use 'argmax'"),
    ],
)
def test_unreadable_targets_say_what_to_write(text: str, problem: str) -> None:
    with pytest.raises(FidelityTargetError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_fidelity_target(text)


def test_targets_and_efforts_read_back_as_written() -> None:
    assert str(parse_fidelity_target("")) == "argmax:0.99"
    assert str(parse_fidelity_target("argmax")) == "argmax:0.99"
    assert str(parse_fidelity_target("argmax:0.995")) == "argmax:0.995"
    assert str(parse_fidelity_target("max-abs:0.01")) == "max-abs:0.01"
    assert parse_tuning_effort("") == TuningEffort.FAST
    assert parse_tuning_effort("thorough") == TuningEffort.THOROUGH
    with pytest.raises(FidelityTargetError, match="use one of none, fast, thorough"):
        parse_tuning_effort("exhaustive")


def _keys(seconds: float, peak_mib: int) -> MeasuredKeys:
    """A measured layout as the tuner compares them: only the proof's cost is read."""
    return MeasuredKeys(
        files=CircuitFiles(Path("unused")),
        logrows=11,
        srs=None,  # type: ignore[arg-type]
        cost=ProofMeasurement(seconds=seconds, peak_rss_bytes=peak_mib * 2**20),
    )


@pytest.mark.parametrize(
    ("a", "b", "winner"),
    [
        # Clearly faster wins, whatever its memory.
        ((1.0, 900), (2.0, 100), "a"),
        # Within the noise of one measurement, the smaller peak wins (LeNet-5's case).
        ((100.4, 5_200), (110.7, 7_300), "a"),
        ((110.7, 5_200), (100.4, 7_300), "a"),
        # A near tie on memory too: the faster.
        ((1.05, 100), (1.0, 100), "b"),
    ],
)
def test_near_ties_are_broken_by_peak_memory(
    a: tuple[float, int], b: tuple[float, int], winner: str
) -> None:
    first, second = _keys(*a), _keys(*b)
    chosen = better(first, second)
    assert chosen is (first if winner == "a" else second)
    assert better(second, first) is chosen
