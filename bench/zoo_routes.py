"""The three routes bench/zoo.py compares on one ONNX file, each ending in a compiled circuit,
its proving key and SRS, and its registration time:

- bare ezkl, as its documentation has a user do it: gen_settings (public inputs and outputs,
  fixed parameters, every other setting ezkl's default), calibrate_settings with target
  "resources", gen_srs, setup;
- zkgate before tuning (`--tuning none`): ezkl's calibration per candidate decomposition;
- zkgate tuned (`--tuning fast`, the default).
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ezkl
import numpy as np
import numpy.typing as npt

from zkgate.core.card import ModelCard
from zkgate.core.fidelity_target import TuningEffort
from zkgate.core.tensors import NamedTensor
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.circuits.registration import register_model
from zkgate.prover.circuits.srs_source import SrsSource
from zkgate.prover.circuits.witness_input import witness_input_json

# Past zkgate's default cap of 17: bare ezkl has none, and LeNet-5 needs 19.
MAX_LOGROWS = 20


@dataclass(frozen=True)
class BuiltCircuit:
    """What a route leaves behind to prove with."""

    compiled: Path
    settings: Path
    proving_key: Path
    srs: Path
    registration_seconds: float
    card: ModelCard | None


def bare_ezkl(
    onnx: Path, calibration: npt.NDArray[Any], srs: SrsSource, work: Path
) -> BuiltCircuit:
    started = time.monotonic()
    run_args: Any = ezkl.PyRunArgs()
    run_args.input_visibility = "public"
    run_args.output_visibility = "public"
    run_args.param_visibility = "fixed"
    settings, compiled = work / "settings.json", work / "model.compiled"
    data = work / "calibration.json"
    data.write_bytes(witness_input_json([NamedTensor.of("input", calibration)]))
    ezkl.gen_settings(str(onnx), str(settings), py_run_args=run_args)
    # ezkl's stub declares no defaults for calibrate_settings' options; the rest stay ezkl's.
    options: dict[str, Any] = {"max_logrows": MAX_LOGROWS}
    ezkl.calibrate_settings(str(data), str(onnx), str(settings), "resources", **options)
    ezkl.compile_circuit(str(onnx), str(compiled), str(settings))
    logrows = int(json.loads(settings.read_bytes())["run_args"]["logrows"])
    srs_path = srs.resolve(logrows).path
    vk, pk = work / "vk.key", work / "pk.key"
    ezkl.setup(
        str(compiled),
        str(vk),
        str(pk),
        srs_path=str(srs_path),
        witness_path=None,
        disable_selector_compression=False,
    )
    return BuiltCircuit(compiled, settings, pk, srs_path, time.monotonic() - started, None)


def zkgate(
    onnx: Path,
    calibration: npt.NDArray[Any],
    srs: SrsSource,
    work: Path,
    effort: TuningEffort,
) -> BuiltCircuit:
    store = ArtifactStore(work / "artifacts")
    scratch = Path(tempfile.mkdtemp(dir=work))
    started = time.monotonic()
    card = register_model(
        f"zoo-{effort.value}",
        onnx_path=onnx,
        calibration=calibration,
        store=store,
        srs_source=srs,
        scratch=scratch,
        max_logrows=MAX_LOGROWS,
        tuning=effort,
    )
    seconds = time.monotonic() - started
    return BuiltCircuit(
        compiled=store.path(card.artifacts["compiled"]),
        settings=store.path(card.artifacts["settings"]),
        proving_key=store.path(card.artifacts["pk"]),
        srs=store.path(card.artifacts["srs"]),
        registration_seconds=seconds,
        card=card,
    )


def held_out_agreement(
    circuit: BuiltCircuit,
    outputs: list[npt.NDArray[Any]],
    inputs: npt.NDArray[Any],
    work: Path,
) -> float:
    """Argmax agreement between the circuit's outputs (its witness, what a proof shows) and
    onnxruntime's, on the held-out test inputs."""
    settings = json.loads(circuit.settings.read_bytes())
    scale = int(settings["model_output_scales"][0])
    agreeing = 0
    for index, sample in enumerate(inputs):
        data, witness = work / f"test-{index}.json", work / f"test-{index}.witness.json"
        data.write_bytes(witness_input_json([NamedTensor.of("input", sample)]))
        ezkl.gen_witness(
            str(data), str(circuit.compiled), str(witness), vk_path=None, srs_path=None
        )
        felts = json.loads(witness.read_bytes())["outputs"][0]
        proven = np.array([ezkl.felt_to_float(felt, scale) for felt in felts])
        agreeing += int(np.argmax(proven) == np.argmax(outputs[index]))
    return agreeing / len(inputs)
