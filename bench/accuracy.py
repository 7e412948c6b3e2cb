"""What a verified-accuracy certificate costs, and where the label comparison should run.

1. Cost at eps = 5%, delta = 5% (n = 600 proofs by Hoeffding), from the per-proof prove and
   verify times bench/batching.py measures in the same run: one hashed-input proof per example
   (B = 1) against batch circuits (B = 4, 8), in seconds on this machine and in dollars at an
   on-demand price per core-hour, next to Kang et al.'s table (about $0.17 per proof; 600,
   2,396 and 14,979 proofs for eps = 5, 2.5 and 1%).
2. Label comparison in the circuit or by the client: the digits model with hashed input and
   output, against the same model extended with the label as a second hashed input and
   |argmax(logits) - label| as its only output. Both are built the same way (ezkl's own
   calibration, the registration's decomposition) and proven side by side, interleaved.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import ezkl
import numpy as np
import onnx
from onnx import TensorProto, helper

from bench import batching
from zkgate.core.protocols.accuracy import hoeffding_sample_size

DIGITS = batching.DIGITS
ROUNDS = 3
DELTA = 0.05
EPSILONS = (0.05, 0.025, 0.01)
# The paper's figures, for the side-by-side table.
PAPER_DOLLARS_PER_PROOF = 0.17
PAPER_PROOFS = {0.05: 600, 0.025: 2396, 0.01: 14979}
# An assumption, not a measurement: a compute-optimized cloud core on demand (2026 list prices
# run about $0.04-0.05 per vCPU-hour). Proving here uses both cores of this machine.
DOLLARS_PER_CORE_HOUR = 0.0425
CORES = 2


def _with_label_in_circuit(source: Path, target: Path) -> None:
    """The model, plus the label as a second input and |argmax(logits) - label| as the only
    output: 0 when the prediction is correct. The logits stay inside the circuit."""
    model = onnx.load(str(source))
    graph = model.graph
    logits = graph.output[0].name
    nodes = [
        *graph.node,
        helper.make_node("ArgMax", [logits], ["predicted"], axis=1, keepdims=1),
        helper.make_node("Cast", ["predicted"], ["predicted_float"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["predicted_float", "label"], ["difference"]),
        helper.make_node("Abs", ["difference"], ["wrong"]),
    ]
    extended = helper.make_graph(
        nodes,
        "digits_with_label",
        [*graph.input, helper.make_tensor_value_info("label", TensorProto.FLOAT, [1, 1])],
        [helper.make_tensor_value_info("wrong", TensorProto.FLOAT, [1, 1])],
        list(graph.initializer),
    )
    onnx.save(helper.make_model(extended, opset_imports=model.opset_import), str(target))


def _hashed_circuit(
    onnx_path: Path, inputs: list[np.ndarray], directory: Path
) -> dict[str, Path | int]:
    """Settings, compiled circuit, keys and SRS for a circuit with hashed inputs and outputs;
    inputs: one stacked array per model input (calibration samples)."""
    directory.mkdir()
    paths = {
        name: directory / name
        for name in ("settings.json", "calibration.json", "compiled", "srs", "vk", "pk")
    }
    run_args: Any = ezkl.PyRunArgs()
    run_args.input_visibility = "hashed"
    run_args.output_visibility = "hashed"
    run_args.param_visibility = "fixed"
    run_args.decomp_base, run_args.decomp_legs = 1024, 3
    ezkl.gen_settings(str(onnx_path), str(paths["settings.json"]), py_run_args=run_args)
    paths["calibration.json"].write_text(
        json.dumps({"input_data": [array.reshape(-1).tolist() for array in inputs]})
    )
    # ezkl's stub declares no defaults for calibrate_settings' options.
    options: dict[str, Any] = {"max_logrows": 17}
    ezkl.calibrate_settings(
        str(paths["calibration.json"]),
        str(onnx_path),
        str(paths["settings.json"]),
        "resources",
        **options,
    )
    settings = json.loads(paths["settings.json"].read_text())
    logrows = int(settings["run_args"]["logrows"])
    ezkl.compile_circuit(str(onnx_path), str(paths["compiled"]), str(paths["settings.json"]))
    ezkl.gen_srs(str(paths["srs"]), logrows)
    ezkl.setup(
        str(paths["compiled"]),
        str(paths["vk"]),
        str(paths["pk"]),
        srs_path=str(paths["srs"]),
        witness_path=None,
        disable_selector_compression=False,
    )
    return {**paths, "logrows": logrows, "rows": int(settings["num_rows"])}


def _prove_seconds(
    circuit: dict[str, Path | int], witness_input: dict[str, Any], work: Path
) -> float:
    data, witness, proof = (work / name for name in ("input.json", "witness.json", "proof.json"))
    data.write_text(json.dumps(witness_input))
    ezkl.gen_witness(str(data), str(circuit["compiled"]), str(witness), vk_path=None, srs_path=None)
    started = time.perf_counter()
    ezkl.prove(
        str(witness),
        str(circuit["compiled"]),
        str(circuit["pk"]),
        str(proof),
        srs_path=str(circuit["srs"]),
    )
    return time.perf_counter() - started


def label_comparison() -> dict[str, Any]:
    samples = np.load(DIGITS / "calibration.npy").astype(np.float32)[:64]
    inputs = np.load(DIGITS / "test_inputs.npy").astype(np.float32)
    labels = np.load(DIGITS / "test_labels.npy")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        extended = root / "with_label.onnx"
        _with_label_in_circuit(DIGITS / "model.onnx", extended)
        circuits = {
            "client": _hashed_circuit(DIGITS / "model.onnx", [samples], root / "client"),
            "in_circuit": _hashed_circuit(
                extended,
                [samples, np.arange(len(samples), dtype=np.float32) % 10],
                root / "in_circuit",
            ),
        }
        witness_inputs = {
            "client": {"input_data": [inputs[0].reshape(-1).tolist()]},
            "in_circuit": {"input_data": [inputs[0].reshape(-1).tolist(), [float(labels[0])]]},
        }
        work = root / "work"
        work.mkdir()
        timings: dict[str, list[float]] = {name: [] for name in circuits}
        for _ in range(ROUNDS):
            for name, circuit in circuits.items():
                timings[name].append(_prove_seconds(circuit, witness_inputs[name], work))
    figures: dict[str, Any] = {}
    print(f"label comparison (digits MLP, hashed I/O, median of {ROUNDS} proves)")
    for name, circuit in circuits.items():
        prove = statistics.median(timings[name])
        figures[name] = {"logrows": circuit["logrows"], "rows": circuit["rows"], "prove_s": prove}
        print(
            f"  {name:>10}: {circuit['rows']} rows, logrows {circuit['logrows']}, "
            f"prove {prove:.2f} s"
        )
    figures["rows_ratio"] = figures["in_circuit"]["rows"] / figures["client"]["rows"]
    figures["prove_ratio"] = figures["in_circuit"]["prove_s"] / figures["client"]["prove_s"]
    print(
        f"  in-circuit / client-side: rows {figures['rows_ratio']:.2f}x, "
        f"prove {figures['prove_ratio']:.2f}x"
    )
    return figures


def certificate_cost(batching_figures: dict[str, Any]) -> dict[str, Any]:
    dollars_per_second = DOLLARS_PER_CORE_HOUR * CORES / 3600
    print(
        f"certificate cost at delta = {DELTA:g} (prove and verify per proof from the batching "
        f"run; ${DOLLARS_PER_CORE_HOUR}/core-hour x {CORES} cores, assumed)"
    )
    figures: dict[str, Any] = {"dollars_per_core_hour": DOLLARS_PER_CORE_HOUR, "cores": CORES}
    for epsilon in EPSILONS:
        n = hoeffding_sample_size(epsilon, DELTA)
        row: dict[str, Any] = {"sample_size": n, "paper_proofs": PAPER_PROOFS[epsilon]}
        for size in batching.BATCH_SIZES:
            measured = batching_figures[f"b{size}"]
            proofs = math.ceil(n / size)
            prove_s = proofs * measured["prove_s"]
            row[f"b{size}"] = {
                "proofs": proofs,
                "prove_s": prove_s,
                "verify_s": proofs * measured["verify_s"],
                "dollars": prove_s * dollars_per_second,
                "dollars_per_example": measured["prove_s"] / size * dollars_per_second,
            }
        row["paper_dollars"] = PAPER_PROOFS[epsilon] * PAPER_DOLLARS_PER_PROOF
        figures[f"eps_{epsilon:g}"] = row
        print(
            f"  eps {epsilon:g}: n = {n} (paper: {PAPER_PROOFS[epsilon]} proofs, "
            f"${row['paper_dollars']:.0f})"
        )
        for size in batching.BATCH_SIZES:
            cell = row[f"b{size}"]
            print(
                f"    B={size}: {cell['proofs']} proofs, prove {cell['prove_s'] / 60:.1f} min "
                f"(${cell['dollars']:.4f}, ${cell['dollars_per_example']:.6f} per example), "
                f"verify {cell['verify_s']:.0f} s"
            )
    return figures


def run(batching_figures: dict[str, Any] | None = None) -> dict[str, Any]:
    """batching_figures: bench/batching.py's result from the same run (run here if absent)."""
    measured = batching_figures if batching_figures is not None else batching.run()
    print()
    return {"cost": certificate_cost(measured), "label_comparison": label_comparison()}


if __name__ == "__main__":
    import logging
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    logging.basicConfig(level=logging.WARNING)
    run()
