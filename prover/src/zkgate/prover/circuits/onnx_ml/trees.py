"""Rewrites of TreeEnsembleClassifier and TreeEnsembleRegressor as the GEMM strategy's matrix
products (tree_tables.py), followed by the classifier's post-transform and label."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
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
from zkgate.prover.circuits.onnx_ml.tree_tables import GemmTables, gemm_tables


def _votes(
    attrs: dict[str, Any], prefix: str
) -> tuple[dict[tuple[int, int], list[tuple[int, float]]], list[int], list[float]]:
    """(tree, leaf node) -> [(column, weight)], with the columns and weights as listed."""
    weights = float_list(attrs, f"{prefix}_weights")
    trees, nodes, ids = (
        attrs.get(f"{prefix}_{name}", []) for name in ("treeids", "nodeids", "ids")
    )
    if weights is None:
        weights = np.zeros(0)
    votes: dict[tuple[int, int], list[tuple[int, float]]] = defaultdict(list)
    for tree, node, column, weight in zip(trees, nodes, ids, weights, strict=True):
        votes[(int(tree), int(node))].append((int(column), float(weight)))
    return votes, [int(i) for i in ids], [float(w) for w in weights]


def _scores(writer: GraphWriter, x: str, tables: GemmTables, base: np.ndarray | None) -> str:
    """leaves @ E (+ base) for the input x [N, features]."""
    picked = writer.node("MatMul", [x, writer.constant("selector", tables.selector)])
    decisions = writer.node("Greater", [picked, writer.constant("thresholds", tables.thresholds)])
    on_path = writer.node(
        "MatMul",
        [
            writer.node("Cast", [decisions], to=onnx.TensorProto.FLOAT),
            writer.constant("paths", tables.paths),
        ],
    )
    half_below = tables.decision_counts - np.float32(0.5)
    leaves = writer.node("Greater", [on_path, writer.constant("decision_counts", half_below)])
    leaf_values = writer.node("Cast", [leaves], to=onnx.TensorProto.FLOAT)
    scores = writer.node(
        "MatMul", [leaf_values, writer.constant("leaf_weights", tables.leaf_weights)]
    )
    if base is None or not np.any(base):
        return scores
    return writer.node("Add", [scores, writer.constant("base_values", base)])


def convert_tree_classifier(node: onnx.NodeProto, writer: GraphWriter, features: int) -> None:
    op = "TreeEnsembleClassifier"
    attrs = attributes(node)
    labels = int_class_labels(op, attrs)
    votes, class_ids, weights = _votes(attrs, "class")
    transform = str(attrs.get("post_transform", "NONE"))
    base = float_list(attrs, "base_values")
    binary = len(labels) == 2 and len(set(class_ids)) == 1
    if binary:
        # One score per sample, for the second class (onnxruntime's binary case).
        single = {key: [(0, w) for _, w in entries] for key, entries in votes.items()}
        tables = gemm_tables(op, attrs, features, single, 1)
        offset = None if base is None or base.size == 0 else base[-1:]
        score = _scores(writer, node.input[0], tables, offset)
        all_positive = all(weight >= 0 for weight in weights)
        raw = binary_scores(writer, score, transform, all_positive)
    else:
        if base is not None and base.size not in (0, len(labels)):
            raise ConversionError(f"{op} has {base.size} base values for {len(labels)} classes")
        tables = gemm_tables(op, attrs, features, votes, len(labels))
        raw = _scores(writer, node.input[0], tables, base)
    probabilities = (
        node.output[1] if len(node.output) > 1 and node.output[1] else writer.fresh("scores")
    )
    post_transform(op, writer, raw, transform, probabilities)
    label_output(writer, raw, labels, node.output[0])


def convert_tree_regressor(node: onnx.NodeProto, writer: GraphWriter, features: int) -> None:
    op = "TreeEnsembleRegressor"
    attrs = attributes(node)
    targets = int(attrs.get("n_targets", 1))
    votes, _, _ = _votes(attrs, "target")
    aggregate = str(attrs.get("aggregate_function", "SUM"))
    if aggregate not in ("SUM", "AVERAGE"):
        raise ConversionError(
            f"{op} has aggregate_function {aggregate}, which zkgate cannot rewrite (it handles "
            "SUM and AVERAGE, what scikit-learn's ensembles export)"
        )
    tables = gemm_tables(op, attrs, features, votes, targets)
    if aggregate == "AVERAGE":
        tables = GemmTables(
            tables.selector,
            tables.thresholds,
            tables.paths,
            tables.decision_counts,
            tables.leaf_weights / np.float32(tables.trees),
            tables.trees,
        )
    scores = _scores(writer, node.input[0], tables, float_list(attrs, "base_values"))
    post_transform(op, writer, scores, str(attrs.get("post_transform", "NONE")), node.output[0])
