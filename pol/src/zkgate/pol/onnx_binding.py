"""Binding the final checkpoint to the served ONNX file.

A proof-of-learning about some weights says nothing about a served model unless the two are the
same. Every float initializer in the ONNX graph must equal a parameter of the final checkpoint
bit for bit (transposed, where the exporter stores a weight that way), each parameter must be
used, and the graph must compute what the checkpoint computes on sample inputs, which catches an
extra operator that no initializer reveals.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import torch
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator
from torch import nn

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
# The graph runs in numpy's float32 and torch in its own kernels: the same function agrees far
# inside this bound, and a changed function lands far outside it.
FUNCTIONAL_TOLERANCE = 1e-4


def export_onnx(model: nn.Module, input_width: int, path: Path) -> None:
    """TorchScript exporter, batch fixed at 1: ezkl circuits have static shapes, and this is the
    graph form its opset-17 reader takes."""
    model.eval()
    example = torch.zeros(1, input_width, dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
        )


def binding_problems(
    onnx_bytes: bytes,
    params: dict[str, torch.Tensor],
    model: nn.Module,
    probe: npt.NDArray[np.float32],
) -> list[str]:
    """Empty when the ONNX graph is the final checkpoint; else what differs. `model` holds the
    final checkpoint's weights; `probe` is a few training inputs."""
    try:
        graph = onnx.load_from_string(onnx_bytes)
    except Exception as exc:  # onnx raises DecodeError and others for garbage
        return [f"model.onnx is not an ONNX model: {exc}"]
    initializers = {
        init.name: numpy_helper.to_array(init)
        for init in graph.graph.initializer
        if init.data_type == onnx.TensorProto.FLOAT
    }
    problems = []
    unmatched = dict(initializers)
    for name, tensor in params.items():
        value = tensor.detach().numpy()
        match = next(
            (
                key
                for key, array in unmatched.items()
                if _same(array, value) or (value.ndim == 2 and _same(array, value.T))
            ),
            None,
        )
        if match is None:
            problems.append(f"no ONNX initializer equals final checkpoint parameter {name}")
        else:
            del unmatched[match]
    problems.extend(
        f"ONNX initializer {name} is not a parameter of the final checkpoint"
        for name in sorted(unmatched)
    )
    if problems:
        return problems
    model.eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(probe)).numpy()
    try:
        evaluator = ReferenceEvaluator(graph)
        actual = np.concatenate(
            [_first_output(evaluator.run(None, {INPUT_NAME: row.reshape(1, -1)})) for row in probe]
        )
    except Exception as exc:  # the reference evaluator raises many kinds for a broken graph
        return [f"model.onnx does not run on the training inputs: {exc}"]
    if actual.shape != expected.shape:
        return [f"model.onnx outputs shape {actual.shape}, the checkpoint {expected.shape}"]
    gap = float(np.max(np.abs(actual - expected)))
    if not gap <= FUNCTIONAL_TOLERANCE:
        return [
            f"model.onnx computes another function than the final checkpoint: outputs differ "
            f"by up to {gap:.3g} (tolerance {FUNCTIONAL_TOLERANCE})"
        ]
    return []


def _first_output(outputs: Any) -> npt.NDArray[np.float32]:
    return np.asarray(outputs[0], dtype=np.float32)


def _same(left: npt.NDArray[np.float32], right: npt.NDArray[np.float32]) -> bool:
    return left.shape == right.shape and left.tobytes() == np.ascontiguousarray(right).tobytes()
