"""Calibration data held to the inputs an uploaded ONNX graph declares, before any job exists.

The prover checks calibration against the model as onnxruntime runs it (model_signature.py); a
gateway can say most of it when the call arrives, from the graph's declared inputs alone: the
arrays' names, their shapes and their sample counts. It reads the graph with onnx (no session,
no ezkl) and refuses only what the prover would refuse too: a graph it cannot read, or a
dimension it cannot judge (symbolic past axis 0), is left to the prover.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx
from google.protobuf.message import DecodeError

from zkgate.prover.circuits.registration_checks import (
    Calibration,
    calibration_arrays,
    check_sample_counts,
    stacked_samples,
)


@dataclass(frozen=True)
class DeclaredInput:
    """A graph input as declared: None for a dimension without a fixed size."""

    name: str
    shape: list[int | None]


def declared_inputs(onnx_bytes: bytes) -> list[DeclaredInput] | None:
    """The graph's inputs in its order (initializers listed as inputs are weights, not
    inputs); None when the bytes are not a graph with inputs."""
    try:
        model = onnx.load_from_string(onnx_bytes)
    except (DecodeError, ValueError, RuntimeError):
        return None
    weights = {tensor.name for tensor in model.graph.initializer}
    inputs = [
        DeclaredInput(
            value.name,
            [
                d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                for d in value.type.tensor_type.shape.dim
            ],
        )
        for value in model.graph.input
        if value.name not in weights
    ]
    return inputs or None


def check_calibration_fits(calibration: Calibration, onnx_bytes: bytes) -> None:
    """Raises RegistrationError for calibration data no registration of this graph can take:
    arrays missing or named after no input, of the wrong shape, or of unequal sample counts. An
    input whose axis 0 is symbolic may be calibrated with rows stacked on that axis."""
    inputs = declared_inputs(onnx_bytes)
    if inputs is None:
        return
    names = [declared.name for declared in inputs]
    arrays = calibration_arrays(calibration, names)
    for declared, array in zip(inputs, arrays, strict=True):
        if not declared.shape or None in declared.shape[1:]:
            continue
        batch_axis = declared.shape[0] is None
        rest = [d for d in declared.shape[1:] if d is not None]
        shape = [1 if batch_axis else int(declared.shape[0] or 1), *rest]
        stacked_samples(array, declared.name, shape, batch_axis=batch_axis)
    check_sample_counts(arrays, names)
