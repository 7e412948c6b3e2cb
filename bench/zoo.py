"""The model zoo, proven three ways side by side: bare ezkl's documented path, zkgate before
tuning, and zkgate tuned (see zoo_routes.py). For each: logrows, rows, prove seconds (median of
PROVE_ROUNDS proofs in a fresh process each, the same held-out input on every route), proving
key bytes, the proof's peak RSS, held-out argmax agreement and registration time; then the
tuned-over-bare ratios the issue set targets for.

Run alone with `.venv/bin/python bench/zoo.py [--models digits,lenet5]`; `make bench` runs every
model (LeNet-5 alone takes about half an hour on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import onnxruntime as ort

from bench.zoo_routes import (
    BuiltCircuit,
    bare_ezkl,
    held_out_agreement,
    zkgate,
)
from zkgate.core.fidelity_target import TuningEffort
from zkgate.core.tensors import NamedTensor
from zkgate.prover.circuits.ezkl_calls import compute_witness
from zkgate.prover.circuits.proof_measurement import measured_proof
from zkgate.prover.circuits.srs_source import SrsSource
from zkgate.prover.circuits.witness_input import witness_input_json

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ZOO = ("digits", "gbt_trees", "softmax_mlp", "attention", "lenet5")
PROVE_ROUNDS = 3
HELD_OUT = 100
# Development SRS files, made once per logrows and kept between runs.
SRS_CACHE = Path(tempfile.gettempdir()) / "zkgate-bench-srs"

Route = Callable[[Path, Any, SrsSource, Path], BuiltCircuit]
ROUTES: dict[str, Route] = {
    "bare ezkl": bare_ezkl,
    "zkgate untuned": lambda onnx, cal, srs, work: zkgate(onnx, cal, srs, work, TuningEffort.NONE),
    "zkgate tuned": lambda onnx, cal, srs, work: zkgate(onnx, cal, srs, work, TuningEffort.FAST),
}


def _measure(name: str, route: Route, work: Path) -> dict[str, float]:
    folder = EXAMPLES / name
    onnx = folder / "model.onnx"
    inputs = np.load(folder / "test_inputs.npy")[:HELD_OUT]
    session = ort.InferenceSession(str(onnx))
    input_name = session.get_inputs()[0].name
    outputs = [session.run(None, {input_name: sample})[0].reshape(-1) for sample in inputs]
    circuit = route(onnx, np.load(folder / "calibration.npy"), SrsSource(SRS_CACHE), work)
    data, witness = work / "prove-input.json", work / "prove-witness.json"
    data.write_bytes(witness_input_json([NamedTensor.of(input_name, inputs[0])]))
    compute_witness("witness", data=data, compiled=circuit.compiled, witness=witness)
    proofs = [
        measured_proof(
            "prove",
            witness=witness,
            compiled=circuit.compiled,
            proving_key=circuit.proving_key,
            proof=work / "proof.json",
            srs=circuit.srs,
        )
        for _ in range(PROVE_ROUNDS)
    ]
    settings = json.loads(circuit.settings.read_bytes())
    return {
        "logrows": settings["run_args"]["logrows"],
        "rows": settings["num_rows"],
        "prove_s": statistics.median(p.seconds for p in proofs),
        "pk_bytes": circuit.proving_key.stat().st_size,
        "peak_rss_bytes": max(p.peak_rss_bytes for p in proofs),
        "held_out_argmax_agreement": held_out_agreement(circuit, outputs, inputs, work),
        "registration_s": circuit.registration_seconds,
    }


def _ratios(figures: dict[str, dict[str, dict[str, float]]]) -> dict[str, float]:
    ratios: dict[str, float] = {}
    for name, routes in figures.items():
        bare, tuned = routes["bare ezkl"], routes["zkgate tuned"]
        ratios[f"{name}_prove_tuned_over_bare"] = tuned["prove_s"] / bare["prove_s"]
        ratios[f"{name}_rss_tuned_over_bare"] = tuned["peak_rss_bytes"] / bare["peak_rss_bytes"]
    prove = [v for k, v in ratios.items() if k.endswith("_prove_tuned_over_bare")]
    ratios["geomean_prove_tuned_over_bare"] = math.exp(statistics.mean(math.log(r) for r in prove))
    return ratios


def _print(figures: dict[str, dict[str, dict[str, float]]], ratios: dict[str, float]) -> None:
    header = (
        "model         route            logrows     rows  prove s      pk MB  RSS MB  argmax  reg s"
    )
    print(header)
    for name, routes in figures.items():
        for route, f in routes.items():
            print(
                f"{name:13s} {route:15s} {f['logrows']:8.0f} {f['rows']:8.0f} {f['prove_s']:8.2f} "
                f"{f['pk_bytes'] / 1e6:10.1f} {f['peak_rss_bytes'] / 1e6:7.0f} "
                f"{f['held_out_argmax_agreement']:7.2%} {f['registration_s']:6.1f}"
            )
    for key, value in ratios.items():
        print(f"{key}: {value:.3f}")


def run(models: tuple[str, ...] = ZOO) -> dict[str, Any]:
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for name in models:
        figures[name] = {}
        for route_name, route in ROUTES.items():
            with tempfile.TemporaryDirectory(prefix=f"zkgate-zoo-{name}-") as tmp:
                figures[name][route_name] = _measure(name, route, Path(tmp))
            print(f"{name} / {route_name}: {figures[name][route_name]}", flush=True)
    ratios = _ratios(figures)
    _print(figures, ratios)
    return {"models": figures, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(ZOO), help="comma-separated zoo folders")
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()
    results = run(tuple(args.models.split(",")))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
