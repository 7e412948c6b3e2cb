"""Rewrites of the ONNX-ML operators that are affine maps: Scaler, LinearClassifier,
LinearRegressor, and Normalizer (a division by a norm).

Every input is taken as float32 [N, C] (skl2onnx's layout for tabular data); the weights become
MatMul/Add constants, which ezkl quantizes at its parameter scale like any network's weights.
"""

from __future__ import annotations

from typing import Any

import onnx

from zkgate.prover.circuits.onnx_ml.classifier_outputs import (
    binary_scores,
    int_class_labels,
    label_output,
    post_transform,
)
from zkgate.prover.circuits.onnx_ml.graph_writer import (
    ConversionError,
    GraphWriter,
    attributes,
    float_list,
)


def convert_scaler(node: onnx.NodeProto, writer: GraphWriter) -> None:
    """Y = (X - offset) * scale, offset and scale of one value or one per column."""
    attrs = attributes(node)
    offset = float_list(attrs, "offset")
    scale = float_list(attrs, "scale")
    centred = node.input[0]
    if offset is not None:
        centred = writer.node("Sub", [centred, writer.constant("offset", offset)])
    if scale is None:
        writer.node("Identity", [centred], node.output[0])
        return
    writer.node("Mul", [centred, writer.constant("scale", scale)], node.output[0])


def convert_normalizer(node: onnx.NodeProto, writer: GraphWriter) -> None:
    """Each row divided by its MAX, L1 or L2 norm. A division by a computed value: ezkl may
    refuse it or need a large lookup table for it."""
    norm = attributes(node).get("norm", "MAX")
    x = node.input[0]
    if norm == "MAX":
        divisor = writer.reduce("ReduceMax", x, axis=1)
    elif norm == "L1":
        divisor = writer.reduce("ReduceL1", x, axis=1)
    elif norm == "L2":
        divisor = writer.reduce("ReduceL2", x, axis=1)
    else:
        raise ConversionError(f"Normalizer has norm {norm!r}; expected MAX, L1 or L2")
    writer.node("Div", [x, divisor], node.output[0])


def _affine(writer: GraphWriter, x: str, attrs: dict[str, Any], targets: int) -> str:
    """X @ W^T + b for `targets` rows of coefficients."""
    coefficients = float_list(attrs, "coefficients")
    if coefficients is None or coefficients.size % targets:
        raise ConversionError("the linear model's coefficients do not split into its targets")
    weights = coefficients.reshape(targets, -1).T
    product = writer.node("MatMul", [x, writer.constant("coefficients", weights)])
    intercepts = float_list(attrs, "intercepts")
    if intercepts is None:
        return product
    return writer.node("Add", [product, writer.constant("intercepts", intercepts)])


def convert_linear_classifier(node: onnx.NodeProto, writer: GraphWriter) -> None:
    """Scores X @ W^T + b, the post_transform, and the top class as the label."""
    attrs = attributes(node)
    labels = int_class_labels("LinearClassifier", attrs)
    intercepts = float_list(attrs, "intercepts")
    targets = len(intercepts) if intercepts is not None else len(labels)
    if targets not in (1, len(labels)):
        raise ConversionError(
            f"LinearClassifier has {targets} score rows for {len(labels)} classes; expected "
            "one per class, or one for a binary classifier"
        )
    transform = str(attrs.get("post_transform", "NONE"))
    scores = _affine(writer, node.input[0], attrs, targets)
    if targets == 1 and len(labels) == 2:
        scores = binary_scores(writer, scores, transform, all_positive=False)
    output = node.output[1] if len(node.output) > 1 and node.output[1] else writer.fresh("scores")
    post_transform("LinearClassifier", writer, scores, transform, output)
    label_output(writer, scores, labels, node.output[0])


def convert_linear_regressor(node: onnx.NodeProto, writer: GraphWriter) -> None:
    """Y = X @ W^T + b, `targets` columns."""
    attrs = attributes(node)
    targets = int(attrs.get("targets", 1))
    transform = str(attrs.get("post_transform", "NONE"))
    scores = _affine(writer, node.input[0], attrs, targets)
    post_transform("LinearRegressor", writer, scores, transform, node.output[0])
