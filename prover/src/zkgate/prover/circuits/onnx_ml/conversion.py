"""ONNX-ML graphs (what skl2onnx exports) rewritten as standard ONNX operators that ezkl proves.

ezkl builds circuits from the standard `ai.onnx` domain only; a scikit-learn model exported with
skl2onnx holds `ai.onnx.ml` nodes (Scaler, LinearClassifier, TreeEnsembleClassifier, ZipMap,
...), on which ezkl stops with "Unimplemented". hummingbird-ml, the usual converter, pins
onnx <= 1.16.1, so this is zkgate's own rewrite over the `onnx` package, written from the
ONNX-ML operator specification: affine operators as MatMul/Add (linear.py), tree ensembles in
the GEMM strategy (tree_tables.py), ZipMap dropped in favour of the probability tensor it wraps
(a circuit's outputs are tensors, not maps).

Every other node is kept as it is, and every value keeps its name, so the converted graph has
the original's inputs and outputs; only a ZipMap output changes type, from a sequence of maps
to a float tensor [N, classes] in the same class order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from zkgate.prover.circuits.onnx_ml.graph_writer import ConversionError, GraphWriter
from zkgate.prover.circuits.onnx_ml.linear import (
    convert_linear_classifier,
    convert_linear_regressor,
    convert_normalizer,
    convert_scaler,
)
from zkgate.prover.circuits.onnx_ml.trees import convert_tree_classifier, convert_tree_regressor

ML_DOMAIN = "ai.onnx.ml"
TOOL = "zkgate.onnx_ml"
# Bumped whenever the converter writes another graph for the same input, so that a card's
# record says which rewrite produced its served graph.
CONVERTER_VERSION = "1"
STRATEGY = "gemm"

_SIMPLE: dict[str, Callable[[onnx.NodeProto, GraphWriter], None]] = {
    "Scaler": convert_scaler,
    "Normalizer": convert_normalizer,
    "LinearClassifier": convert_linear_classifier,
    "LinearRegressor": convert_linear_regressor,
}
_TREES: dict[str, Callable[[onnx.NodeProto, GraphWriter, int], None]] = {
    "TreeEnsembleClassifier": convert_tree_classifier,
    "TreeEnsembleRegressor": convert_tree_regressor,
}
ZIPMAP = "ZipMap"
_WIDTH_KEEPING = ("Scaler", "Normalizer")
SUPPORTED = sorted([*_SIMPLE, *_TREES, ZIPMAP])
_INTEGER_TYPES = {
    TensorProto.INT8,
    TensorProto.INT16,
    TensorProto.INT32,
    TensorProto.INT64,
    TensorProto.UINT8,
    TensorProto.UINT16,
    TensorProto.UINT32,
    TensorProto.UINT64,
}


@dataclass(frozen=True)
class ConvertedGraph:
    """The rewritten graph, saved at `path`, and the ONNX-ML operator types it replaced."""

    path: Path
    operators: list[str]


def onnx_ml_operators(model: onnx.ModelProto) -> list[str]:
    return sorted({node.op_type for node in model.graph.node if node.domain == ML_DOMAIN})


def convert_onnx_ml(onnx_path: Path, out_path: Path) -> ConvertedGraph | None:
    """The graph with its ONNX-ML nodes rewritten, saved at out_path; None when it has none."""
    try:
        # The graph alone, without external weights: most models have no ONNX-ML node.
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception:
        return None  # not ONNX at all: model_signature's load reports it.
    operators = onnx_ml_operators(model)
    if not operators:
        return None
    model = onnx.load(str(onnx_path))
    doubles = [
        value.name
        for value in model.graph.input
        if value.type.tensor_type.elem_type == TensorProto.DOUBLE
    ]
    if doubles:
        raise ConversionError(
            f"the model takes double-precision input(s) {doubles}: export it for float32 "
            "inputs (skl2onnx: to_onnx(model, X[:1].astype(numpy.float32))), which is what a "
            "circuit's fixed-point inputs stand for"
        )
    unsupported = [op for op in operators if op not in SUPPORTED]
    if unsupported:
        raise ConversionError(
            f"the model uses ONNX-ML operator(s) {', '.join(unsupported)}, which zkgate cannot "
            f"rewrite as standard ONNX for ezkl (it rewrites {', '.join(SUPPORTED)}); export a "
            "model built from those (e.g. a scikit-learn pipeline of StandardScaler, linear "
            "models and tree ensembles), or rewrite the operator as standard ONNX operators "
            "before registering"
        )
    converted = _rewrite(model)
    try:
        onnx.checker.check_model(converted, full_check=True)
    except Exception as exc:
        raise ConversionError(f"the rewritten ONNX-ML graph is not valid ONNX: {exc}") from exc
    onnx.save(converted, str(out_path))
    return ConvertedGraph(out_path, operators)


def _default_opset(model: onnx.ModelProto) -> int:
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            return int(opset.version)
    raise ConversionError("the model imports no standard ONNX opset; export it with one")


def _rewrite(model: onnx.ModelProto) -> onnx.ModelProto:
    opset = _default_opset(model)
    types = _value_types(model)
    taken = {value for node in model.graph.node for value in [*node.input, *node.output]}
    taken |= {tensor.name for tensor in model.graph.initializer}
    nodes: list[onnx.NodeProto] = []
    initializers = list(model.graph.initializer)
    zipmaps: dict[str, int] = {}
    for position, node in enumerate(model.graph.node):
        if node.domain != ML_DOMAIN:
            nodes.append(node)
            continue
        writer = GraphWriter(node.name or f"{node.op_type}_{position}", taken, opset)
        if node.op_type == ZIPMAP:
            zipmaps[node.output[0]] = _drop_zipmap(node, writer)
        else:
            _rewrite_node(node, types, writer)
        nodes.extend(writer.nodes)
        initializers.extend(writer.initializers)
    graph = helper.make_graph(
        nodes,
        model.graph.name,
        list(model.graph.input),
        [_tensor_output(output, zipmaps, model) for output in model.graph.output],
        initializer=initializers,
    )
    return helper.make_model(
        graph,
        opset_imports=[op for op in model.opset_import if op.domain != ML_DOMAIN],
        ir_version=model.ir_version,
        producer_name=f"{TOOL} {CONVERTER_VERSION} from {model.producer_name}",
    )


def _drop_zipmap(node: onnx.NodeProto, writer: GraphWriter) -> int:
    """The map's values are the scores tensor itself, in class order: its output becomes that
    tensor. Returns the number of classes."""
    writer.node("Identity", [node.input[0]], node.output[0])
    labels = helper.get_attribute_value(
        next(a for a in node.attribute if a.name.startswith("classlabels"))
    )
    return len(labels)


def _rewrite_node(
    node: onnx.NodeProto, types: dict[str, onnx.TypeProto], writer: GraphWriter
) -> None:
    source = types.get(node.input[0])
    reading, features = _float_input(node, types, writer)
    if node.op_type in _WIDTH_KEEPING and source is not None:
        # onnx infers no shapes through these; they keep their input's [N, C] (as float).
        kept = onnx.TypeProto()
        kept.CopyFrom(source)
        kept.tensor_type.elem_type = TensorProto.FLOAT
        types[node.output[0]] = kept
    if node.op_type in _TREES:
        _TREES[node.op_type](reading, writer, features)
    else:
        _SIMPLE[node.op_type](reading, writer)


def _value_types(model: onnx.ModelProto) -> dict[str, onnx.TypeProto]:
    inferred = onnx.shape_inference.infer_shapes(model)
    values = [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]
    return {value.name: value.type for value in values}


def _float_input(
    node: onnx.NodeProto, types: dict[str, onnx.TypeProto], writer: GraphWriter
) -> tuple[onnx.NodeProto, int]:
    """The node reading its input [N, C] as float32 (a copy reading a Cast of it, if the
    input holds integers), and C."""
    value = types.get(node.input[0])
    tensor = value.tensor_type if value is not None else None
    dims = list(tensor.shape.dim) if tensor is not None else []
    if tensor is None or len(dims) != 2 or not dims[1].HasField("dim_value"):
        raise ConversionError(
            f"{node.op_type} reads {node.input[0]!r}, whose shape is not [N, columns] with a "
            "known number of columns; export the model with a fixed number of features"
        )
    width = int(dims[1].dim_value)
    if tensor.elem_type == TensorProto.FLOAT:
        return node, width
    if tensor.elem_type not in _INTEGER_TYPES:
        raise ConversionError(
            f"{node.op_type} reads {node.input[0]!r} of element type "
            f"{TensorProto.DataType.Name(tensor.elem_type)}; export it for float32 inputs"
        )
    reading = onnx.NodeProto()
    reading.CopyFrom(node)
    reading.input[0] = writer.node("Cast", [node.input[0]], to=TensorProto.FLOAT)
    return reading, width


def _tensor_output(
    output: onnx.ValueInfoProto, zipmaps: dict[str, int], model: onnx.ModelProto
) -> onnx.ValueInfoProto:
    """A ZipMap's output as the float tensor [N, classes] that replaces it."""
    if output.name not in zipmaps:
        return output
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    rows: str | int | None = (
        batch.dim_value if batch.HasField("dim_value") else (batch.dim_param or None)
    )
    return helper.make_tensor_value_info(
        output.name, TensorProto.FLOAT, [rows, zipmaps[output.name]]
    )
