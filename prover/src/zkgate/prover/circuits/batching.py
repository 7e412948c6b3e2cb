"""Cross-request batching: one circuit that runs the model on B requests side by side.

ezkl 23 has no proof aggregation, so the way to prove B predictions at once is a circuit over B
inputs. The batch graph repeats the model's nodes B times, entry i's tensors renamed with a
suffix, over one shared set of weights; its inputs and outputs are entry 0's, then entry 1's,
and so on. With hashed inputs and outputs each entry appears in the public instances only as
Poseidon hashes, so the requests of different clients can share a proof, and each client checks
its own entry without learning the others'.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnx
from onnx import helper

from zkgate.core.canonical import canonical_json

ENTRY_SUFFIX = "__batch{index}"


class BatchError(ValueError):
    """A batch that cannot be put together (wrong sizes, inputs of another shape)."""


def replicate_model(source: Path, target: Path, batch_size: int) -> None:
    """Writes the batch graph of source's model to target."""
    if batch_size < 1:
        raise BatchError(f"a batch circuit needs a batch size of at least 1, got {batch_size}")
    model = onnx.load(str(source))
    graph = model.graph
    shared = {initializer.name for initializer in graph.initializer}
    nodes: list[onnx.NodeProto] = []
    inputs: list[onnx.ValueInfoProto] = []
    outputs: list[onnx.ValueInfoProto] = []
    for index in range(batch_size):
        suffix = ENTRY_SUFFIX.format(index=index)

        def rename(name: str, suffix: str = suffix) -> str:
            # "" marks an omitted optional input; weights are shared by every entry.
            return name if name == "" or name in shared else name + suffix

        for position, node in enumerate(graph.node):
            entry_node = copy.deepcopy(node)
            # Unnamed nodes get their position: ezkl's ONNX reader (tract) mistakes two nodes
            # of one name for one (seen: two unnamed MatMuls, each becoming "MatMul__batch0").
            entry_node.name = (node.name or f"{node.op_type}_{position}") + suffix
            entry_node.input[:] = [rename(name) for name in node.input]
            entry_node.output[:] = [rename(name) for name in node.output]
            nodes.append(entry_node)
        for role, declared in ((inputs, graph.input), (outputs, graph.output)):
            for value in declared:
                if value.name in shared:
                    continue
                entry_value = copy.deepcopy(value)
                entry_value.name = rename(value.name)
                role.append(entry_value)
    batched = helper.make_graph(
        nodes, f"{graph.name}-batch{batch_size}", inputs, outputs, list(graph.initializer)
    )
    result = helper.make_model(
        batched, opset_imports=model.opset_import, ir_version=model.ir_version
    )
    onnx.checker.check_model(result)
    onnx.save(result, str(target))


def batch_witness_input(entries: Sequence[bytes], batch_size: int) -> bytes:
    """ezkl's data file for a batch, from each request's own witness_input_json bytes.

    Fewer entries than batch_size are padded by repeating entry 0, so a lone request is proven
    after the batch window like any other; padding entries are nobody's, and no job reports them.
    """
    if not entries:
        raise BatchError("a batch needs at least one request")
    if len(entries) > batch_size:
        raise BatchError(f"{len(entries)} requests do not fit a batch of {batch_size}")
    data = [_input_data(entry) for entry in entries]
    if any(len(lists) != len(data[0]) for lists in data):
        raise BatchError("the requests of a batch have different numbers of inputs")
    padded = data + [data[0]] * (batch_size - len(data))
    return canonical_json({"input_data": [values for lists in padded for values in lists]})


def entry_outputs(witness: dict[str, Any], index: int, outputs_per_entry: int) -> list[list[str]]:
    """The quantized outputs (felts) of one entry, read from a batch witness.

    With hashed outputs the proof holds only their Poseidon hashes; these felts are what a
    client hashes to check its entry, and then dequantizes to compare with its served output.
    """
    start = index * outputs_per_entry
    felts: list[list[str]] = witness["outputs"][start : start + outputs_per_entry]
    return felts


def read_witness(path: Path) -> dict[str, Any]:
    witness: dict[str, Any] = json.loads(path.read_bytes())
    return witness


def _input_data(entry: bytes) -> list[list[float]]:
    try:
        lists: list[list[float]] = json.loads(entry)["input_data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BatchError(f"a request's witness input is not ezkl input data: {exc}") from exc
    return lists
