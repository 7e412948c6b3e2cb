"""Building a model's batch circuit at registration, once the model's own circuit is keyed
(see batching.py for the circuit itself)."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

from zkgate.core.card import BatchCircuit
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.circuits.batching import (
    batch_witness_input,
    entry_outputs,
    read_witness,
    replicate_model,
)
from zkgate.prover.circuits.calibration import HASHED_IO, CircuitChoices, calibrate
from zkgate.prover.circuits.circuit_files import CircuitFiles
from zkgate.prover.circuits.compilation import compile_circuit, mock
from zkgate.prover.circuits.input_samples import InputSamples
from zkgate.prover.circuits.keying import Keying, key_and_prove
from zkgate.prover.circuits.model_signature import ModelSignature
from zkgate.prover.circuits.registration_checks import RegistrationError
from zkgate.prover.circuits.srs_files import CeremonySrs
from zkgate.prover.circuits.srs_source import SrsSource
from zkgate.prover.circuits.witness_input import witness_input_json


def build_batch_circuit(
    name: str,
    *,
    onnx_path: Path,
    signature: ModelSignature,
    samples: InputSamples,
    model_files: CircuitFiles,
    fidelity_samples: int,
    batch_size: int,
    store: ArtifactStore,
    srs_source: SrsSource,
    max_logrows: int,
    visibility: str,
    ceremony: CeremonySrs | None,
    pinned: ExitStack,
    terms: bytes,
) -> BatchCircuit:
    """The batch circuit, built with the model circuit's scales and decomposition, and checked
    to give every entry exactly the outputs the model's own circuit gives.

    model_files must hold the model circuit as register_model left it (settings, calibration
    sample inputs and witnesses). A batch of 1 is no use to serve, but is the baseline that
    bench/batching.py compares larger batches with.
    """
    label = f"{name} (batch of {batch_size})"
    files = CircuitFiles(model_files.directory / f"batch-{batch_size}")
    files.directory.mkdir()
    batch_onnx = files.directory / "model.onnx"
    replicate_model(onnx_path, batch_onnx, batch_size)
    files.calibration.write_bytes(_calibration_data(samples, batch_size))
    choices = _model_choices(model_files, visibility, max_logrows)
    calibrate(label, batch_onnx, files, choices)
    compile_circuit(label, batch_onnx, files)
    sources = [i % fidelity_samples for i in range(batch_size)]
    files.sample_input(0).write_bytes(
        batch_witness_input([model_files.sample_input(i).read_bytes() for i in sources], batch_size)
    )
    mock(label, files)
    _check_entries(files, model_files, sources, len(signature.outputs))
    keyed = key_and_prove(label, files, Keying(store, srs_source, ceremony, pinned), terms)
    settings = json.loads(files.settings.read_bytes())
    return BatchCircuit(
        size=batch_size,
        commitment=keyed.commitment,
        logrows=keyed.logrows,
        input_scale=max(int(s) for s in settings["model_input_scales"]),
        output_scale=min(int(s) for s in settings["model_output_scales"]),
        keys=keyed.keys,
        prove_seconds=keyed.prove_seconds,
        prove_peak_rss_bytes=keyed.prove_peak_rss_bytes,
        srs=keyed.srs,
        artifacts={"onnx": store.put_file(batch_onnx), **keyed.artifacts},
    )


def _calibration_data(samples: InputSamples, batch_size: int) -> bytes:
    """Each entry sees every calibration sample, in a different order; the batch graph's
    inputs are entry 0's (in the model's order), then entry 1's, and so on."""
    return witness_input_json(
        [tensor for entry in range(batch_size) for tensor in samples.rolled(entry).tensors()]
    )


def _model_choices(model_files: CircuitFiles, visibility: str, max_logrows: int) -> CircuitChoices:
    """The model circuit's own scales and decomposition, with hashed inputs and outputs."""
    run_args = json.loads(model_files.settings.read_bytes())["run_args"]
    return CircuitChoices(
        param_visibility=visibility,
        max_logrows=max_logrows,
        io_visibility=HASHED_IO,
        decompositions=((int(run_args["decomp_base"]), int(run_args["decomp_legs"])),),
        scales=(int(run_args["input_scale"]), int(run_args["scale_rebase_multiplier"])),
    )


def _check_entries(
    files: CircuitFiles, model_files: CircuitFiles, sources: list[int], outputs_per_entry: int
) -> None:
    """Each entry of the batch witness must hold the outputs the model's own circuit computed
    for the same input."""
    batch_witness = read_witness(files.sample_witness(0))
    for index, source in enumerate(sources):
        expected = read_witness(model_files.sample_witness(source))["outputs"]
        if entry_outputs(batch_witness, index, outputs_per_entry) != expected:
            raise RegistrationError(
                f"entry {index} of the batch circuit computes other outputs than the model's "
                "own circuit for the same input, so the model's measured fidelity would not "
                "hold for batched proofs; register without batching"
            )
