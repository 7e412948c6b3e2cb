"""Binding the final checkpoint to the served ONNX file.

A proof-of-learning about some weights says nothing about a served model unless the two are the
same. The graph must be exactly the one the architecture exports to, holding exactly the final
checkpoint's parameters (`onnx_graph`), and must then compute what the checkpoint computes on
probes drawn from the verifier's nonce: training examples and synthetic inputs the prover could
not know when it wrote the file, so no input-dependent gate can be aimed at them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import torch
from onnx.reference import ReferenceEvaluator
from torch import nn

from zkgate.pol.onnx_graph import INPUT_NAME, OPSET, OUTPUT_NAME, graph_problems
from zkgate.pol.randomness import HashStream

__all__ = ["INPUT_NAME", "OPSET", "OUTPUT_NAME", "binding_problems", "export_onnx", "probes"]

_PROBE_DOMAIN = "zkgate.pol.probe/1"
# The graph runs in numpy's float32 and torch in its own kernels: the same function agrees far
# inside this bound, and a changed function lands far outside it.
FUNCTIONAL_TOLERANCE = 1e-4


def export_onnx(
    model: nn.Module,
    sample_shape: int | Sequence[int],
    path: Path,
    *,
    output_name: str = OUTPUT_NAME,
) -> None:
    """TorchScript exporter, batch fixed at 1: ezkl circuits have static shapes, and this is the
    graph form its opset-17 reader takes. An int shape is a flat input of that width."""
    model.eval()
    shape = (sample_shape,) if isinstance(sample_shape, int) else tuple(sample_shape)
    example = torch.zeros(1, *shape, dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[output_name],
        )


def probes(features: npt.NDArray[np.float32], key: bytes, count: int) -> npt.NDArray[np.float32]:
    """`count` training examples and `count` uniform inputs over the training range, drawn from
    the verifier's randomness (`key`: its nonce and the manifest digest), so the prover cannot
    know them when it writes the graph."""
    stream = HashStream(_PROBE_DOMAIN, key)
    chosen = features[stream.sample(range(len(features)), count)]
    low, high = float(features.min()), float(features.max())
    unit = np.array([stream.word() >> 11 for _ in range(count * features.shape[1])], np.float64)
    synthetic = low + (high - low) * unit.reshape(count, -1) / float(1 << 53)
    return np.concatenate([chosen, synthetic.astype(np.float32)])


def binding_problems(
    onnx_bytes: bytes,
    sizes: Sequence[int],
    params: dict[str, torch.Tensor],
    model: nn.Module,
    probe: npt.NDArray[np.float32],
) -> list[str]:
    """Empty when the ONNX graph is the final checkpoint; else what differs. `sizes`: the
    policy's layer widths; `model` holds the final checkpoint's weights; `probe` comes from
    `probes`."""
    try:
        graph = onnx.load_from_string(onnx_bytes)
    except Exception as exc:  # onnx raises DecodeError and others for garbage
        return [f"model.onnx is not an ONNX model: {exc}"]
    return graph_problems(graph, sizes, params) or _functional_problems(graph, model, probe)


def _functional_problems(
    graph: onnx.ModelProto, model: nn.Module, probe: npt.NDArray[np.float32]
) -> list[str]:
    """Defence in depth behind the structural match: the operators' semantics as the reference
    evaluator runs them, against torch's."""
    model.eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(probe)).numpy()
    try:
        evaluator = ReferenceEvaluator(graph)
        actual = np.concatenate(
            [_first_output(evaluator.run(None, {INPUT_NAME: row.reshape(1, -1)})) for row in probe]
        )
    except Exception as exc:  # the reference evaluator raises many kinds for a broken graph
        return [f"model.onnx does not run on the verifier's probes: {exc}"]
    if actual.shape != expected.shape:
        return [f"model.onnx outputs shape {actual.shape}, the checkpoint {expected.shape}"]
    gap = float(np.max(np.abs(actual - expected)))
    if not gap <= FUNCTIONAL_TOLERANCE:
        return [
            f"model.onnx computes another function than the final checkpoint on the verifier's "
            f"probes: outputs differ by up to {gap:.3g} (tolerance {FUNCTIONAL_TOLERANCE})"
        ]
    return []


def _first_output(outputs: Any) -> npt.NDArray[np.float32]:
    return np.asarray(outputs[0], dtype=np.float32)
