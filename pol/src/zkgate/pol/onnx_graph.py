"""The one ONNX graph a checkpoint of a given architecture may be served as.

Comparing weights alone lets a graph carry anything beside them: a second model in `Constant`
nodes or in initializers of another dtype, and a gate (`Where`, say) that picks between the two.
No functional test on a finite set of inputs rules that out. So the graph is derived from the
policy's architecture, the way the exporter writes an `nn.Sequential` MLP, and compared node for
node: names, operator, wiring and attributes; the graph's inputs and outputs; and its tensors,
which must be exactly the checkpoint's parameters, as FLOAT, each used where the architecture uses
it. Anything extra, of any dtype or kind, is a difference.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx
import torch
from onnx import numpy_helper

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
# The exporter writes these on every Linear layer; transB=1 because torch keeps W as [out, in].
_GEMM_ATTRIBUTES = (
    ("alpha", onnx.AttributeProto.FLOAT, 1.0),
    ("beta", onnx.AttributeProto.FLOAT, 1.0),
    ("transB", onnx.AttributeProto.INT, 1),
)
Attribute = tuple[str, int, object]


@dataclass(frozen=True)
class NodeSpec:
    """Everything about a node that changes what the graph computes or how it reads."""

    name: str
    op_type: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attributes: tuple[Attribute, ...]

    def describe(self) -> str:
        attributes = ", ".join(f"{name}={value!r}" for name, _, value in self.attributes)
        domain = f"{self.domain}." if self.domain else ""
        return (
            f"{self.name!r} {domain}{self.op_type}({', '.join(self.inputs)}) -> "
            f"{', '.join(self.outputs)}" + (f" [{attributes}]" if attributes else "")
        )


def canonical_nodes(sizes: Sequence[int]) -> list[NodeSpec]:
    """Linear layers at even Sequential indices, ReLU between them, as the exporter names them."""
    nodes = []
    previous = INPUT_NAME
    layers = len(sizes) - 1
    for layer in range(layers):
        index = 2 * layer
        last = layer == layers - 1
        output = OUTPUT_NAME if last else f"/{index}/Gemm_output_0"
        inputs = (previous, f"{index}.weight", f"{index}.bias")
        nodes.append(NodeSpec(f"/{index}/Gemm", "Gemm", "", inputs, (output,), _GEMM_ATTRIBUTES))
        if not last:
            previous = f"/{index + 1}/Relu_output_0"
            nodes.append(NodeSpec(f"/{index + 1}/Relu", "Relu", "", (output,), (previous,), ()))
    return nodes


def parameter_shapes(sizes: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """The initializers the canonical graph reads, by name, in torch's [out, in] layout."""
    shapes: dict[str, tuple[int, ...]] = {}
    for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        shapes[f"{2 * layer}.weight"] = (fan_out, fan_in)
        shapes[f"{2 * layer}.bias"] = (fan_out,)
    return shapes


def graph_problems(
    model: onnx.ModelProto, sizes: Sequence[int], params: dict[str, torch.Tensor]
) -> list[str]:
    """Empty when `model` is the canonical graph for `sizes` holding exactly `params`."""
    return (
        _container_problems(model)
        + _interface_problems(model.graph, sizes)
        + _node_problems(model.graph, sizes)
        + _tensor_problems(model.graph, sizes, params)
    )


def _container_problems(model: onnx.ModelProto) -> list[str]:
    """Places outside the node list where computation or data can hide."""
    problems = []
    opsets = sorted((entry.domain, entry.version) for entry in model.opset_import)
    if opsets != [("", OPSET)]:
        problems.append(f"model.onnx imports opsets {opsets}; the binding expects only [('', 17)]")
    if model.functions:
        problems.append(f"model.onnx defines {len(model.functions)} local functions")
    if model.training_info:
        problems.append("model.onnx carries training_info")
    if model.graph.sparse_initializer:
        problems.append(f"model.onnx has {len(model.graph.sparse_initializer)} sparse initializers")
    if model.graph.value_info:
        problems.append(f"model.onnx declares {len(model.graph.value_info)} intermediate values")
    return problems


def _interface_problems(graph: onnx.GraphProto, sizes: Sequence[int]) -> list[str]:
    expected = [(INPUT_NAME, [1, sizes[0]])], [(OUTPUT_NAME, [1, sizes[-1]])]
    problems = []
    for kind, values, wanted in zip(
        ("inputs", "outputs"), (graph.input, graph.output), expected, strict=True
    ):
        found = [_value_signature(value) for value in values]
        if found != [(name, onnx.TensorProto.FLOAT, dims) for name, dims in wanted]:
            problems.append(
                f"model.onnx graph {kind} are {found}; the architecture makes float32 {wanted}"
            )
    return problems


def _value_signature(value: onnx.ValueInfoProto) -> tuple[str, int, list[int | str]]:
    tensor = value.type.tensor_type
    dims: list[int | str] = [
        dim.dim_value if dim.HasField("dim_value") else dim.dim_param for dim in tensor.shape.dim
    ]
    return value.name, tensor.elem_type, dims


def _node_problems(graph: onnx.GraphProto, sizes: Sequence[int]) -> list[str]:
    """Node for node, in order: the first difference is reported, with operators no MLP uses."""
    expected = canonical_nodes(sizes)
    found = [_node_spec(node) for node in graph.node]
    problems = []
    foreign = sorted({node.op_type for node in found} - {"Gemm", "Relu"})
    if foreign:
        problems.append(f"model.onnx uses operators an MLP does not: {', '.join(foreign)}")
    if len(found) != len(expected):
        problems.append(
            f"model.onnx has {len(found)} nodes; the architecture {list(sizes)} makes "
            f"{len(expected)}"
        )
    for index, (actual, wanted) in enumerate(zip(found, expected, strict=False)):
        if actual != wanted:
            problems.append(
                f"model.onnx node {index} is {actual.describe()}; the architecture makes "
                f"{wanted.describe()}"
            )
            break
    return problems


def _node_spec(node: onnx.NodeProto) -> NodeSpec:
    attributes = tuple(sorted(_attribute(attribute) for attribute in node.attribute))
    return NodeSpec(
        node.name, node.op_type, node.domain, tuple(node.input), tuple(node.output), attributes
    )


def _attribute(attribute: onnx.AttributeProto) -> Attribute:
    """Scalars by value; anything else (tensors, graphs, lists) never occurs in the canonical
    graph, so its kind is enough to differ."""
    if attribute.type == onnx.AttributeProto.FLOAT:
        return attribute.name, attribute.type, float(attribute.f)
    if attribute.type == onnx.AttributeProto.INT:
        return attribute.name, attribute.type, int(attribute.i)
    kind = onnx.AttributeProto.AttributeType.Name(attribute.type)
    return attribute.name, attribute.type, f"<{kind}>"


def _tensor_problems(
    graph: onnx.GraphProto, sizes: Sequence[int], params: dict[str, torch.Tensor]
) -> list[str]:
    """Every initializer, of any dtype, must be a checkpoint parameter, bit for bit, once."""
    shapes = parameter_shapes(sizes)
    names = [tensor.name for tensor in graph.initializer]
    problems = [
        f"ONNX initializer {name} is not a parameter of the final checkpoint"
        for name in sorted(set(names) - shapes.keys())
    ]
    problems += [
        f"ONNX initializer {name} appears {names.count(name)} times"
        for name in sorted(set(names))
        if names.count(name) > 1
    ]
    problems += [
        f"no ONNX initializer equals final checkpoint parameter {name}: model.onnx has none "
        "of that name"
        for name in sorted(shapes.keys() - set(names))
    ]
    for tensor in graph.initializer:
        if tensor.name in shapes and tensor.name in params:
            problems += _tensor_value_problems(tensor, params[tensor.name])
    return problems


def _tensor_value_problems(tensor: onnx.TensorProto, param: torch.Tensor) -> list[str]:
    if tensor.data_type != onnx.TensorProto.FLOAT:
        kind = onnx.TensorProto.DataType.Name(tensor.data_type)
        return [f"ONNX initializer {tensor.name} is {kind}; checkpoint parameters are FLOAT"]
    if tensor.data_location != onnx.TensorProto.DEFAULT:
        return [f"ONNX initializer {tensor.name} points to external data"]
    value = param.detach().numpy()
    try:
        array = numpy_helper.to_array(tensor)
    except Exception as exc:  # onnx raises several kinds for a malformed tensor
        return [f"ONNX initializer {tensor.name} cannot be read: {exc}"]
    if array.shape != value.shape or array.tobytes() != np.ascontiguousarray(value).tobytes():
        return [f"no ONNX initializer equals final checkpoint parameter {tensor.name}"]
    return []
