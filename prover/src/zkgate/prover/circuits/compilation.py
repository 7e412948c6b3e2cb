"""Compiling a calibrated circuit, and checking its constraints on a sample before any key is
made (mock): a circuit that cannot hold its own calibration sample fails here in seconds, not
after a setup of minutes."""

from __future__ import annotations

from pathlib import Path

import ezkl

from zkgate.core.job_stages import JobStage
from zkgate.prover.circuits.circuit_files import CircuitFiles
from zkgate.prover.circuits.ezkl_calls import compute_witness, run_ezkl
from zkgate.prover.circuits.stage_timing import stage, timed


def compile_circuit(label: str, onnx_path: Path, files: CircuitFiles) -> None:
    with stage(label, JobStage.COMPILING):
        run_ezkl(
            "compiling the circuit",
            lambda: ezkl.compile_circuit(str(onnx_path), str(files.compiled), str(files.settings)),
        )


def sample_witness(files: CircuitFiles, index: int) -> None:
    compute_witness(
        f"computing the witness of calibration sample {index}",
        data=files.sample_input(index),
        compiled=files.compiled,
        witness=files.sample_witness(index),
    )


def mock(label: str, files: CircuitFiles) -> None:
    """Sample 0's witness, which the circuit's one test proof proves later, and its check."""
    with timed(label, "mock"):
        sample_witness(files, 0)
        run_ezkl(
            "checking the circuit's constraints on calibration sample 0 (mock)",
            lambda: ezkl.mock(str(files.sample_witness(0)), str(files.compiled)),
        )
