"""What a submitted ONNX model takes and returns, as onnxruntime reads it, and the calibration
data checked against it: the first stage of a registration, before ezkl sees the model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from zkgate.core.card import TensorSpec
from zkgate.core.tensors import numpy_dtype
from zkgate.prover.circuits.input_samples import InputSamples
from zkgate.prover.circuits.registration_checks import (
    Calibration,
    RegistrationError,
    calibration_arrays,
    check_sample_counts,
    stacked_samples,
)

_ORT_DATATYPES = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(float16)": "FP16",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(bool)": "BOOL",
}


@dataclass(frozen=True)
class ModelSignature:
    """Tensor specs as a circuit sees them: with `dynamic_batch`, the served model takes any
    number of rows on axis 0 of every input and output, and each spec holds one row (axis 0 of
    size 1), the shape the circuit is built and every row proven at."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    dynamic_batch: bool = False


def load_onnx(onnx_path: Path) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise RegistrationError(
            f"onnxruntime cannot load the model: {exc}; send a valid ONNX file (opset 17 is "
            "known to work)"
        ) from exc


def _is_fixed(dimension: Any) -> bool:
    return isinstance(dimension, int) and dimension > 0


def read_signature(session: ort.InferenceSession) -> ModelSignature:
    """Names, datatypes and shapes of the model's inputs and outputs. A circuit has one size:
    every dimension must be a number, except a batch axis (axis 0 symbolic in every input and
    output, as torch's dynamic_axes and skl2onnx export it), which is proven one row at a time."""
    arguments = [("input", arg) for arg in session.get_inputs()]
    arguments += [("output", arg) for arg in session.get_outputs()]
    dynamic_batch = all(len(arg.shape) > 0 and not _is_fixed(arg.shape[0]) for _, arg in arguments)

    def spec(role: str, arg: Any) -> TensorSpec:
        datatype = _ORT_DATATYPES.get(arg.type)
        if datatype is None:
            raise RegistrationError(
                f"{role} {arg.name!r} has type {arg.type}, which is unsupported"
            )
        shape = [1, *arg.shape[1:]] if dynamic_batch else list(arg.shape)
        if not all(_is_fixed(d) for d in shape):
            raise RegistrationError(
                f"{role} {arg.name!r} has shape {arg.shape} with a dynamic dimension; a circuit "
                "needs fixed shapes, except a batch axis 0 that is dynamic in every input and "
                "output: export the other axes with fixed sizes"
            )
        return TensorSpec(name=arg.name, datatype=datatype, shape=[int(d) for d in shape])

    return ModelSignature(
        inputs=[spec(role, arg) for role, arg in arguments if role == "input"],
        outputs=[spec(role, arg) for role, arg in arguments if role == "output"],
        dynamic_batch=dynamic_batch,
    )


def calibration_samples(calibration: Calibration, signature: ModelSignature) -> InputSamples:
    """The calibration data as samples of every model input, in the model's input order and
    datatypes; checked here rather than at the gateway, since only the model tells what a
    sample must be (the gateway checks what it can before queueing)."""
    names = [spec.name for spec in signature.inputs]
    arrays = [
        stacked_samples(array, spec.name, spec.shape, batch_axis=signature.dynamic_batch)
        for spec, array in zip(
            signature.inputs, calibration_arrays(calibration, names), strict=True
        )
    ]
    check_sample_counts(arrays, names)
    return InputSamples.of(
        signature.inputs,
        [_as_datatype(array, spec) for spec, array in zip(signature.inputs, arrays, strict=True)],
    )


def _as_datatype(array: npt.NDArray[Any], spec: TensorSpec) -> npt.NDArray[Any]:
    if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
        raise RegistrationError(
            f"calibration data for input {spec.name!r} has dtype {array.dtype}; send numbers"
        )
    samples = array.astype(numpy_dtype(spec.datatype))
    if not np.isfinite(samples.astype(np.float64)).all():
        raise RegistrationError(
            f"calibration data for input {spec.name!r} holds NaN or infinity; send finite values"
        )
    return samples
