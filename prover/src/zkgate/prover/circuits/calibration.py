"""Calibration: choosing a circuit's settings (scales, logrows, range-check decomposition) from
the model and its calibration samples."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ezkl

from zkgate.core.job_stages import JobStage
from zkgate.prover.circuits.circuit_files import CircuitFiles
from zkgate.prover.circuits.ezkl_calls import EZKL_VERSION
from zkgate.prover.circuits.registration_checks import RegistrationError
from zkgate.prover.circuits.stage_timing import stage

# Calibration tries many scales over every sample; more samples cost time, not much accuracy.
CALIBRATION_SAMPLE_CAP = 64
# (decomp_base, decomp_legs) candidates, see calibrate: ezkl's default first, so it wins ties.
DECOMPOSITIONS = ((16384, 2), (1024, 3))
# ezkl's default: each gate spans this many advice columns.
DEFAULT_INNER_COLUMNS = 2
# A model's own circuit shows its inputs and outputs; a batch circuit shows only their hashes.
PUBLIC_IO = "public"
HASHED_IO = "hashed"


@dataclass(frozen=True)
class CircuitChoices:
    """What calibration may pick from. A batch circuit is given its model circuit's choices, so
    each entry is quantized exactly as the model's own circuit quantizes it (and the measured
    fidelity holds for it too), and calibration tries one configuration instead of dozens."""

    param_visibility: str
    max_logrows: int
    io_visibility: str
    decompositions: tuple[tuple[int, int], ...]
    # (input scale, scale rebase multiplier) to use; None lets calibration search.
    scales: tuple[int, int] | None = None


@dataclass(frozen=True)
class LayoutRequest:
    """The layout settings a calibration is pinned to; the rest (logrows, lookup ranges, and the
    scales when `scales` is None) calibration chooses."""

    decomp_base: int
    decomp_legs: int
    num_inner_cols: int = DEFAULT_INNER_COLUMNS
    # (input and parameter scale, scale rebase multiplier); None lets calibration search.
    scales: tuple[int, int] | None = None


def calibrate(label: str, onnx_path: Path, files: CircuitFiles, choices: CircuitChoices) -> None:
    """Calibrates once per candidate decomposition on files.calibration and keeps the smallest
    circuit as files.settings: the route without a measured search (tuning `none`, and batch
    circuits, which take their model circuit's scales).

    ezkl range-checks values by splitting them into `decomp_legs` digits of base `decomp_base`,
    and its lookup table has `decomp_base` rows: the default base 2^14 alone puts a floor of
    2^15 rows under every circuit. For small models three legs of base 2^10 (a range of 2^30,
    wider than the default's 2^28) give a circuit 8 times smaller, with proving time and key
    size shrinking alike; for large models the table no longer dominates and the default wins.
    Trying both costs one extra calibration.
    """
    best: tuple[int, int, bytes] | None = None
    failures: list[str] = []
    with stage(label, JobStage.CALIBRATING):
        for base, legs in choices.decompositions:
            candidate = files.directory / f"settings-decomp-{base}x{legs}.json"
            try:
                calibrate_layout(
                    onnx_path,
                    files.calibration,
                    candidate,
                    choices,
                    LayoutRequest(base, legs, scales=choices.scales),
                )
            except RegistrationError as exc:
                failures.append(str(exc))
                continue
            size = settings_size(candidate)
            if best is None or size < best[:2]:
                best = (*size, candidate.read_bytes())
    if best is None:
        raise RegistrationError(failures[0])
    files.settings.write_bytes(best[2])


def settings_size(settings: Path) -> tuple[int, int]:
    """(logrows, rows) of a calibrated settings file."""
    values = json.loads(settings.read_bytes())
    return int(values["run_args"]["logrows"]), int(values["num_rows"])


def settings_output_scales(settings: Path) -> list[int]:
    return [int(s) for s in json.loads(settings.read_bytes())["model_output_scales"]]


def calibrate_layout(
    onnx_path: Path, data: Path, settings: Path, choices: CircuitChoices, layout: LayoutRequest
) -> None:
    """Writes settings for onnx_path pinned to layout, calibrated on data."""
    # ezkl's stub declares none of PyRunArgs' attributes, nor calibrate_settings' defaults.
    run_args: Any = ezkl.PyRunArgs()
    run_args.input_visibility = choices.io_visibility
    run_args.output_visibility = choices.io_visibility
    run_args.param_visibility = choices.param_visibility
    run_args.decomp_base = layout.decomp_base
    run_args.decomp_legs = layout.decomp_legs
    run_args.num_inner_cols = layout.num_inner_cols
    _model_step(
        "ezkl cannot build a circuit for this model (is every operator supported by ezkl "
        f"{EZKL_VERSION}?)",
        lambda: ezkl.gen_settings(str(onnx_path), str(settings), py_run_args=run_args),
    )
    _calibrate_settings(onnx_path, data, settings, choices, layout.scales)
    # ezkl may settle on more rows than the cap allows (seen: logrows 7 under a cap of 4).
    logrows = settings_size(settings)[0]
    if logrows > choices.max_logrows:
        raise RegistrationError(
            f"the model needs a circuit of 2^{logrows} rows, over the cap of "
            f"2^{choices.max_logrows} rows: raise max_logrows (each step doubles proving time "
            "and memory) or use a smaller model"
        )


def _calibrate_settings(
    onnx_path: Path,
    data: Path,
    settings: Path,
    choices: CircuitChoices,
    pinned: tuple[int, int] | None,
) -> None:
    # ezkl's stub declares no defaults for calibrate_settings' options.
    scales: dict[str, Any] = {}
    if pinned is not None:
        scale, multiplier = pinned
        scales = {"scales": [scale], "scale_rebase_multiplier": [multiplier]}
    try:
        ezkl.calibrate_settings(
            str(data),
            str(onnx_path),
            str(settings),
            "resources",
            max_logrows=choices.max_logrows,
            **scales,
        )
    except Exception as exc:
        if "could not find any suitable parameters" in str(exc):
            raise RegistrationError(
                f"the model does not fit in a circuit of at most 2^{choices.max_logrows} rows: "
                "raise max_logrows (each step doubles proving time and memory) or use a "
                "smaller model"
            ) from exc
        raise RegistrationError(f"calibrating the circuit failed: {exc}") from exc


def _model_step(problem: str, call: Callable[[], object]) -> None:
    try:
        call()
    except Exception as exc:
        raise RegistrationError(f"{problem}: {exc}") from exc
