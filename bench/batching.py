"""Amortized prove seconds per prediction for batch circuits of 1, 4 and 8 requests.

All three are built the way registration builds a batch circuit (hashed inputs and outputs,
the model circuit's scales and decomposition) from one registration of the bundled digits model,
then proven side by side, interleaved, on the same witness inputs; the model's own circuit
(public inputs and outputs) is timed alongside for reference. The target (issue 4) is that a
batch of 8 costs at most a third of a batch of 1 per prediction.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import ezkl
import numpy as np

from zkgate.core.card import BatchCircuit, ModelCard
from zkgate.core.tensors import NamedTensor
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.circuits.batch_registration import build_batch_circuit
from zkgate.prover.circuits.batching import batch_witness_input
from zkgate.prover.circuits.circuit_files import CircuitFiles
from zkgate.prover.circuits.model_signature import calibration_samples, read_signature
from zkgate.prover.circuits.registration import register_model
from zkgate.prover.circuits.registration_checks import load_calibration
from zkgate.prover.circuits.srs_source import SrsSource
from zkgate.prover.circuits.witness_input import witness_input_json

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits"
BATCH_SIZES = (1, 4, 8)
ROUNDS = 3
TARGET_RATIO = 1 / 3


def prove_and_verify_seconds(
    store: ArtifactStore, artifacts: dict[str, str], witness_input: bytes, scratch: Path
) -> tuple[float, float]:
    data, witness, proof = (scratch / name for name in ("input.json", "witness.json", "proof"))
    data.write_bytes(witness_input)
    compiled = str(store.path(artifacts["compiled"]))
    ezkl.gen_witness(str(data), compiled, str(witness), vk_path=None, srs_path=None)
    started = time.perf_counter()
    ezkl.prove(
        str(witness),
        compiled,
        str(store.path(artifacts["pk"])),
        str(proof),
        srs_path=str(store.path(artifacts["srs"])),
    )
    proved = time.perf_counter()
    ezkl.verify(
        str(proof),
        str(store.path(artifacts["settings"])),
        str(store.path(artifacts["vk"])),
        # What a client verifies with: the slice the bundle carries.
        str(store.path(artifacts["srs_slice"])),
        False,
    )
    return proved - started, time.perf_counter() - proved


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as pinned:
        root = Path(tmp)
        store = ArtifactStore(root / "artifacts")
        card, circuits = build_circuits(root, store, pinned)
        timings = time_proofs(root / "work", store, card, circuits)
    return report(card, circuits, timings)


def build_circuits(
    root: Path, store: ArtifactStore, pinned: ExitStack
) -> tuple[ModelCard, dict[int, BatchCircuit]]:
    """Registers the bundled model, then builds its batch circuit of each size as registration
    would; the local copies of stored artifacts ezkl keys with stay pinned while `pinned` is
    open."""
    import onnxruntime as ort

    onnx_path = DIGITS / "model.onnx"
    calibration = load_calibration((DIGITS / "calibration.npy").read_bytes())
    signature = read_signature(ort.InferenceSession(str(onnx_path)))
    samples = calibration_samples(calibration, signature)
    srs = SrsSource(root / "srs")
    scratch = root / "scratch"
    scratch.mkdir()
    card = register_model(
        "digits",
        onnx_path=onnx_path,
        calibration=calibration,
        store=store,
        srs_source=srs,
        scratch=scratch,
    )
    circuits = {
        size: build_batch_circuit(
            "digits",
            onnx_path=onnx_path,
            signature=signature,
            samples=samples[:64],
            model_files=CircuitFiles(scratch),
            fidelity_samples=min(16, len(samples)),
            batch_size=size,
            store=store,
            srs_source=srs,
            max_logrows=17,
            visibility="fixed",
            ceremony=None,
            pinned=pinned,
            terms=card.terms(),
        )
        for size in BATCH_SIZES
    }
    return card, circuits


def time_proofs(
    work: Path, store: ArtifactStore, card: ModelCard, circuits: dict[int, BatchCircuit]
) -> dict[str, list[tuple[float, float]]]:
    """(prove, verify) seconds of each circuit, ROUNDS times, on the same test inputs."""
    inputs = np.load(DIGITS / "test_inputs.npy").astype(np.float32)
    entries = [
        witness_input_json([NamedTensor.of("input", inputs[i])]) for i in range(max(BATCH_SIZES))
    ]
    timings: dict[str, list[tuple[float, float]]] = {
        "public_1": [],
        **{str(b): [] for b in BATCH_SIZES},
    }
    work.mkdir()
    # Interleaved, so drift in machine load hits every size alike.
    for _ in range(ROUNDS):
        timings["public_1"].append(
            prove_and_verify_seconds(store, card.artifacts, entries[0], work)
        )
        for size, circuit in circuits.items():
            witness_input = batch_witness_input(entries[:size], size)
            timings[str(size)].append(
                prove_and_verify_seconds(store, circuit.artifacts, witness_input, work)
            )
    return timings


def report(
    card: ModelCard,
    circuits: dict[int, BatchCircuit],
    timings: dict[str, list[tuple[float, float]]],
) -> dict[str, Any]:
    """Median figures per circuit, printed, and B=8's cost per prediction against the target."""
    figures: dict[str, Any] = {}
    print(f"batching (digits MLP, hashed inputs and outputs, median of {ROUNDS} proves)")
    public = statistics.median(prove for prove, _ in timings["public_1"])
    print(f"  reference: model circuit, public I/O, logrows {card.logrows}: {public:.2f} s")
    figures["public_io_b1"] = {"logrows": card.logrows, "prove_s": public}
    for size, circuit in circuits.items():
        prove = statistics.median(prove for prove, _ in timings[str(size)])
        figures[f"b{size}"] = {
            "logrows": circuit.logrows,
            "prove_s": prove,
            "verify_s": statistics.median(verify for _, verify in timings[str(size)]),
            "per_prediction_s": prove / size,
            "proving_key_bytes": circuit.keys.proving_key_bytes,
        }
        print(
            f"  B={size}: logrows {circuit.logrows}, prove {prove:.2f} s, "
            f"{prove / size:.2f} s per prediction, pk {circuit.keys.proving_key_bytes / 1e6:.0f} MB"
        )
    ratio = figures["b8"]["per_prediction_s"] / figures["b1"]["per_prediction_s"]
    figures["ratio_b8_over_b1_per_prediction"] = ratio
    figures["target_ratio"] = TARGET_RATIO
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"  per prediction B=8 / B=1: {ratio:.2f} (target <= {TARGET_RATIO:.2f}: {verdict})")
    return figures


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.WARNING)
    run()
