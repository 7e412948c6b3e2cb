"""A tree ensemble's nodes, read from the ONNX-ML attributes, laid out as the matrices of the
GEMM strategy (the name hummingbird-ml gives it): every tree's internal nodes and leaves side by
side, block-diagonal by tree, so that one pass of three matrix products evaluates all trees.

1. `decisions = (x @ A) > B`: column i of A picks node i's feature with a sign, B holds the
   signed threshold, so decision i is 1 exactly when the sample takes node i's "decision
   branch". Every branch mode is written with the one comparison `>`: BRANCH_GT as is, LEQ as
   the negation of GT (the decision branch is the false child), LT as -x > -t, GTE as the
   negation of that. Negation is exact in floating and in fixed point, so each decision is the
   node's own comparison, and ezkl proves `Greater` at every opset (measured: exact at the
   threshold and one quantum either side, and a flipped output fails the constraints). `Equal`
   is avoided: ezkl 23 labels its 0/1 output with its inputs' scale.
2. `leaves = (decisions @ C) > D - 1/2`: C[i, l] is +1 if the path to leaf l takes node i's
   decision branch, -1 if it takes the other, 0 if i is not on the path; D[l] counts the
   decision branches on the path. The product reaches D[l] only on the leaf whose whole path
   agrees, so exactly one leaf per tree is 1. (`> D - 1/2` is `== D` for these integers.)
3. `scores = leaves @ E + base`: E[l, k] is leaf l's weight for class (or target) k.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from zkgate.prover.circuits.onnx_ml.graph_writer import ConversionError, float_list

# Branch mode -> (sign applied to feature and threshold, whether `sign*x > sign*t` is the
# node's true branch).
BRANCH_MODES = {
    "BRANCH_GT": (1.0, True),
    "BRANCH_LEQ": (1.0, False),
    "BRANCH_LT": (-1.0, True),
    "BRANCH_GTE": (-1.0, False),
}
LEAF = "LEAF"


@dataclass(frozen=True)
class GemmTables:
    selector: npt.NDArray[np.float32]  # A [features, internal nodes]
    thresholds: npt.NDArray[np.float32]  # B [internal nodes]
    paths: npt.NDArray[np.float32]  # C [internal nodes, leaves]
    decision_counts: npt.NDArray[np.float32]  # D [leaves]
    leaf_weights: npt.NDArray[np.float32]  # E [leaves, columns]
    trees: int


@dataclass(frozen=True)
class _Node:
    mode: str
    feature: int
    threshold: float
    true_id: int
    false_id: int


def _tree_nodes(op: str, attrs: dict[str, Any]) -> dict[int, dict[int, _Node]]:
    """Nodes by tree id, then node id."""
    thresholds = float_list(attrs, "nodes_values")
    columns = ("nodes_treeids", "nodes_nodeids", "nodes_modes", "nodes_featureids")
    if thresholds is None or any(name not in attrs for name in columns):
        raise ConversionError(f"{op} lacks its nodes_* attributes; export it again")
    trees: dict[int, dict[int, _Node]] = defaultdict(dict)
    rows = zip(
        attrs["nodes_treeids"],
        attrs["nodes_nodeids"],
        attrs["nodes_modes"],
        attrs["nodes_featureids"],
        thresholds,
        attrs["nodes_truenodeids"],
        attrs["nodes_falsenodeids"],
        strict=True,
    )
    for tree, node, mode, feature, threshold, true_id, false_id in rows:
        if mode != LEAF and mode not in BRANCH_MODES:
            raise ConversionError(
                f"{op} has a node with mode {mode}, which zkgate cannot rewrite (it handles "
                f"{', '.join(BRANCH_MODES)}); export trees that split with <, <=, > or >="
            )
        trees[int(tree)][int(node)] = _Node(
            str(mode), int(feature), float(threshold), int(true_id), int(false_id)
        )
    return trees


def _root(tree: dict[int, _Node]) -> int:
    children = {n.true_id for n in tree.values() if n.mode != LEAF}
    children |= {n.false_id for n in tree.values() if n.mode != LEAF}
    roots = [node for node in tree if node not in children]
    if len(roots) != 1:
        raise ConversionError(f"a tree has {len(roots)} roots; export the ensemble again")
    return roots[0]


def _leaf_row(votes: list[tuple[int, float]], columns: int) -> npt.NDArray[np.float32]:
    """A leaf's weight on each output column: its votes summed (one per class it votes for)."""
    row = np.zeros(columns, dtype=np.float32)
    for column, weight in votes:
        row[column] += weight
    return row


def gemm_tables(
    op: str,
    attrs: dict[str, Any],
    features: int,
    weights: dict[tuple[int, int], list[tuple[int, float]]],
    columns: int,
) -> GemmTables:
    """The tables for a classifier's or regressor's trees; weights maps (tree, leaf node) to
    its (column, weight) votes."""
    trees = _tree_nodes(op, attrs)
    selector: list[npt.NDArray[np.float32]] = []
    thresholds: list[float] = []
    path_entries: list[tuple[int, int, float]] = []
    decision_counts: list[int] = []
    leaf_rows: list[npt.NDArray[np.float32]] = []
    for tree_id in sorted(trees):
        tree = trees[tree_id]
        # Depth-first walk carrying the path: (internal node index, took its decision branch).
        stack: list[tuple[int, list[tuple[int, bool]]]] = [(_root(tree), [])]
        while stack:
            node_id, path = stack.pop()
            node = tree.get(node_id)
            if node is None:
                raise ConversionError(f"{op}: tree {tree_id} refers to a missing node {node_id}")
            if node.mode == LEAF:
                leaf = len(leaf_rows)
                for index, decided in path:
                    path_entries.append((index, leaf, 1.0 if decided else -1.0))
                decision_counts.append(sum(decided for _, decided in path))
                leaf_rows.append(_leaf_row(weights.get((tree_id, node_id), []), columns))
                continue
            if not 0 <= node.feature < features:
                raise ConversionError(
                    f"{op} splits on feature {node.feature} of an input with {features} columns"
                )
            sign, decision_is_true = BRANCH_MODES[node.mode]
            index = len(thresholds)
            column_a = np.zeros(features, dtype=np.float32)
            column_a[node.feature] = sign
            selector.append(column_a)
            thresholds.append(sign * node.threshold)
            decision_child, other_child = (
                (node.true_id, node.false_id) if decision_is_true else (node.false_id, node.true_id)
            )
            stack.append((other_child, [*path, (index, False)]))
            stack.append((decision_child, [*path, (index, True)]))
    if not thresholds:
        raise ConversionError(f"{op} has no decision nodes: every tree is a single leaf")
    paths = np.zeros((len(thresholds), len(leaf_rows)), dtype=np.float32)
    for node_row, leaf_column, sign in path_entries:
        paths[node_row, leaf_column] = sign
    return GemmTables(
        selector=np.stack(selector, axis=1),
        thresholds=np.asarray(thresholds, dtype=np.float32),
        paths=paths,
        decision_counts=np.asarray(decision_counts, dtype=np.float32),
        leaf_weights=np.stack(leaf_rows),
        trees=len(trees),
    )
