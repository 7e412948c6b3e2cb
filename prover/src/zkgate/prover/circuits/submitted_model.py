"""A submitted model that passed registration's checks, with what every stage reads of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from zkgate.core.card import Conversion
from zkgate.prover.circuits.circuit_files import CircuitFiles
from zkgate.prover.circuits.input_samples import InputSamples
from zkgate.prover.circuits.model_signature import ModelSignature


@dataclass(frozen=True)
class SubmittedModel:
    """`files` is the scratch directory the circuit is built in; the tuner builds each
    candidate in a directory of its own below it. `onnx_path` is the graph the circuit is
    built from, and `session` runs it; `served_onnx` is the graph the gateway serves (the same
    file, or with a dynamic batch axis the graph before its axis 0 was fixed at one row).
    `samples` are the calibration samples of every input."""

    name: str
    onnx_path: Path
    served_onnx: Path
    session: ort.InferenceSession
    signature: ModelSignature
    samples: InputSamples
    files: CircuitFiles
    # For an ONNX-ML model, how `served_onnx` was rewritten from the submitted graph.
    conversion: Conversion | None = None

    def candidate_files(self, tag: str) -> CircuitFiles:
        files = CircuitFiles(self.files.directory / tag)
        files.directory.mkdir(parents=True, exist_ok=True)
        return files
