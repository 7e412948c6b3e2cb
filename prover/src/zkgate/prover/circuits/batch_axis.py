"""Models with a dynamic batch axis: served whole, proven one row at a time.

ezkl builds a circuit of one size, so the circuit is built from a copy of the graph with axis 0
fixed at 1. That is sound only if a row's outputs depend on that row alone: a graph that mixes
rows (a Softmax or a normalisation over axis 0) would serve a batch outputs no per-row proof
shows, and every honest client would reject them. Registration measures it instead of assuming.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort

from zkgate.prover.circuits.model_signature import ModelSignature
from zkgate.prover.circuits.registration_checks import RegistrationError

# Rows run together and then one by one, from the calibration samples.
INDEPENDENCE_ROWS = 8
# onnxruntime picks kernels by batch size (blocked GEMM versus GEMV), so float32 results of
# the same row differ in the last bits between a batch and a single run.
INDEPENDENCE_TOLERANCE = 1e-4


def fixed_row_graph(onnx_path: Path, out_path: Path) -> Path:
    """A copy of the model whose inputs and outputs have axis 0 of size 1. Inferred shapes of
    intermediate values are dropped: they may name the symbolic axis, and ezkl infers its own."""
    model = onnx.load(str(onnx_path))
    initializers = {tensor.name for tensor in model.graph.initializer}
    for value in [*model.graph.input, *model.graph.output]:
        if value.name in initializers:
            continue
        axis = value.type.tensor_type.shape.dim[0]
        axis.Clear()
        axis.dim_value = 1
    del model.graph.value_info[:]
    onnx.save(model, str(out_path))
    return out_path


def check_rows_independent(
    session: ort.InferenceSession, signature: ModelSignature, samples: list[npt.NDArray[Any]]
) -> None:
    """Refuses a model whose outputs for a row change with the other rows of its batch.

    samples holds one array per input, each of N samples of one row (axis 0 of size 1)."""
    rows = min(INDEPENDENCE_ROWS, len(samples[0]))
    if rows < 2:
        raise RegistrationError(
            "a model with a dynamic batch axis needs at least 2 calibration samples, to check "
            "that each row of a batch is computed on its own"
        )
    names = [spec.name for spec in signature.inputs]
    batched = session.run(
        None,
        {
            name: np.concatenate(list(data[:rows]))
            for name, data in zip(names, samples, strict=True)
        },
    )
    for row in range(rows):
        alone = session.run(
            None, {name: data[row] for name, data in zip(names, samples, strict=True)}
        )
        for spec, together, single in zip(signature.outputs, batched, alone, strict=True):
            gap = _gap(np.asarray(together)[row : row + 1], np.asarray(single))
            if gap > INDEPENDENCE_TOLERANCE:
                raise RegistrationError(
                    f"output {spec.name!r} of calibration sample {row} differs by {gap:.3g} "
                    f"when run in a batch of {rows} rather than alone: the model mixes the rows "
                    "of a batch (e.g. a Softmax or a normalisation over axis 0), so rows cannot "
                    "be proven one at a time; export it with a fixed batch size instead"
                )


def _gap(together: npt.NDArray[Any], single: npt.NDArray[Any]) -> float:
    """The largest difference, relative to the values' magnitude past 1."""
    a, b = together.astype(np.float64), single.astype(np.float64)
    scale = np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))
    return float(np.max(np.abs(a - b) / scale, initial=0.0))
