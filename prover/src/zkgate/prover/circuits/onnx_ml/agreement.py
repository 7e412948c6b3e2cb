"""The converted graph checked against the original on the calibration samples, by onnxruntime.

The rewrite is meant to compute the same function; this measures it on the data the provider
sent, before anything is proven or served. Labels (integer outputs) must agree exactly; scores
may differ by float rounding (the GEMM form sums leaf weights in another order), up to
CONVERSION_TOLERANCE relative to the values' magnitude past 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from zkgate.prover.circuits.onnx_ml.graph_writer import ConversionError

CONVERSION_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Agreement:
    samples: int
    max_abs_diff: float


def check_agreement(
    original: Path, converted: ort.InferenceSession, samples: list[npt.NDArray[Any]]
) -> Agreement:
    """Runs both graphs on every calibration sample; samples holds one array per input, each
    of N samples in the input's own shape."""
    reference = ort.InferenceSession(str(original), providers=["CPUExecutionProvider"])
    names = [arg.name for arg in converted.get_inputs()]
    outputs = [arg.name for arg in converted.get_outputs()]
    largest = 0.0
    count = len(samples[0])
    for row in range(count):
        feed = {name: data[row] for name, data in zip(names, samples, strict=True)}
        expected = reference.run(outputs, feed)
        actual = converted.run(outputs, feed)
        for name, want, got in zip(outputs, expected, actual, strict=True):
            largest = max(largest, _difference(name, row, _as_array(want), np.asarray(got)))
    return Agreement(samples=count, max_abs_diff=largest)


def _as_array(value: Any) -> npt.NDArray[Any]:
    """A ZipMap's output (a list of {class: score} maps) as the [N, classes] tensor the
    converted graph returns instead."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return np.asarray([list(scores.values()) for scores in value], dtype=np.float32)
    return np.asarray(value)


def _difference(name: str, row: int, want: npt.NDArray[Any], got: npt.NDArray[Any]) -> float:
    if want.shape != got.shape:
        raise ConversionError(
            f"the rewritten graph's output {name!r} has shape {got.shape}, the original's "
            f"{want.shape}, on calibration sample {row}"
        )
    if not np.issubdtype(want.dtype, np.floating):
        if not np.array_equal(want, got):
            raise ConversionError(
                f"the rewritten graph's output {name!r} is {got.tolist()} on calibration sample "
                f"{row}, the original's {want.tolist()}: the ONNX-ML rewrite does not compute "
                "the same labels; report this model to zkgate, or register a standard-ONNX graph"
            )
        return 0.0
    a, b = want.astype(np.float64), got.astype(np.float64)
    gap = np.abs(a - b)
    relative = float(np.max(gap / np.maximum(1.0, np.abs(a)), initial=0.0))
    if relative > CONVERSION_TOLERANCE:
        raise ConversionError(
            f"the rewritten graph's output {name!r} differs from the original's by "
            f"{relative:.3g} (relative past 1) on calibration sample {row}, above "
            f"{CONVERSION_TOLERANCE}: the ONNX-ML rewrite does not compute the same function; "
            "report this model to zkgate, or register a standard-ONNX graph"
        )
    return float(np.max(gap, initial=0.0))
