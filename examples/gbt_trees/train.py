"""Train gradient-boosted trees on breast-cancer data and export them as standard ONNX operators.

ezkl's operators are those of the standard ONNX domain, while skl2onnx writes a tree ensemble as
one `ai.onnx.ml` TreeEnsembleClassifier node, outside that set. So the fitted ensemble is
rewritten in the "GEMM" form of tree inference (the strategy hummingbird-ml calls GEMM), as three
matrix products over all trees at once, block-diagonal by tree:

1. `decisions = (x @ A) <= B`: A picks each internal node's feature, B holds its threshold, so
   decision n is 1 where the sample goes left at node n (scikit-learn's `x <= threshold`).
2. `leaves = (decisions @ C) >= D`: C[n, l] is +1 if leaf l lies under node n's left child, -1
   under its right child, 0 otherwise; D[l] counts the left turns on the path to l. The sum never
   exceeds D[l] and reaches it only when every decision on the path agrees, so exactly one leaf per
   tree is 1. `>=` is the same test as the usual `==` here, and ezkl needs it: ezkl 23.0.5 labels
   an `Equal` node's 0/1 output with its inputs' fixed-point scale, so the circuit read every leaf
   indicator as 1/2^13 and served the prior for every sample (measured); `GreaterOrEqual` and
   `LessOrEqual` come out at scale 0, exact.
3. `raw = leaves @ E + bias`: E holds each leaf's value times the learning rate, the bias is the
   ensemble's prior log-odds; the served output is [1 - sigmoid(raw), sigmoid(raw)], scikit-learn's
   `predict_proba`.

The conversion is our own code, not hummingbird-ml: hummingbird-ml 0.4.12 requires onnx <= 1.16.1,
so installing it would downgrade onnx (1.23.2 here) for the whole workspace, and its ONNX backend
calls torch's dynamo exporter, which needs onnxscript. Its torch backend does run under torch 2.13.

Features are standardized with the training split's mean and scale before they reach the model.
Trees do not care (a monotone rescaling moves thresholds, not decisions), but ezkl quantizes inputs
to fixed point, and raw features span 1e-3 to 4e3.

Usage: .venv/bin/python examples/gbt_trees/train.py [--out DIR] [--seed N]
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.preprocessing import StandardScaler
from torch import nn

if str(Path(__file__).resolve().parents[2]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from examples.zoo_common import (
    ExampleModel,
    FloatArray,
    Split,
    cli,
    make_deterministic,
    onnx_outputs,
    publish,
    stratified_split,
)

NUM_FEATURES = 30
SAMPLE_SHAPE = (NUM_FEATURES,)
OUTPUT_NAME = "probabilities"
TREES = 20
DEPTH = 3
LEARNING_RATE = 0.2
LEAF = -1  # scikit-learn's marker for "no child"


@dataclass(frozen=True)
class GemmTables:
    """The ensemble as matrices; see the module docstring for what each one means."""

    selector: FloatArray  # A, [features, internal nodes]
    thresholds: FloatArray  # B, [internal nodes]
    paths: FloatArray  # C, [internal nodes, leaves]
    left_turns: FloatArray  # D, [leaves]
    leaf_values: FloatArray  # E, [leaves, 1]
    bias: float


EXAMPLE = ExampleModel(
    sample_shape=SAMPLE_SHAPE,
    output_name=OUTPUT_NAME,
    architecture=f"gradient-boosted trees: {TREES} trees, depth {DEPTH}, GEMM form",
    input_scaling="standardized: (x - mean) / scale, training-split mean and scale below",
    output=f"{OUTPUT_NAME}: float32 [1, 2], [P(malignant), P(benign)] as predict_proba",
)


def gemm_tables(ensemble: GradientBoostingClassifier, calibration: FloatArray) -> GemmTables:
    """Lay every tree's internal nodes and leaves side by side (block-diagonal)."""
    selector: list[FloatArray] = []
    thresholds: list[float] = []
    path_entries: list[tuple[int, int, float]] = []
    left_turns: list[int] = []
    leaf_values: list[float] = []
    for (estimator,) in ensemble.estimators_:
        tree = estimator.tree_
        node_index: dict[int, int] = {}
        for node in range(tree.node_count):
            if tree.children_left[node] != LEAF:
                node_index[node] = len(thresholds)
                column = np.zeros(NUM_FEATURES, dtype=np.float32)
                column[tree.feature[node]] = 1.0
                selector.append(column)
                thresholds.append(float(tree.threshold[node]))
        # Depth-first walk carrying the path: (internal node, went left) pairs from the root.
        stack: list[tuple[int, list[tuple[int, bool]]]] = [(0, [])]
        while stack:
            node, path = stack.pop()
            if tree.children_left[node] == LEAF:
                leaf = len(leaf_values)
                for ancestor, went_left in path:
                    path_entries.append((node_index[ancestor], leaf, 1.0 if went_left else -1.0))
                left_turns.append(sum(went_left for _, went_left in path))
                leaf_values.append(ensemble.learning_rate * float(tree.value[node, 0, 0]))
                continue
            stack.append((int(tree.children_right[node]), [*path, (node, False)]))
            stack.append((int(tree.children_left[node]), [*path, (node, True)]))
    paths = np.zeros((len(thresholds), len(leaf_values)), dtype=np.float32)
    for node_row, leaf_column, sign in path_entries:
        paths[node_row, leaf_column] = sign
    return GemmTables(
        selector=np.stack(selector, axis=1),
        thresholds=np.asarray(thresholds, dtype=np.float32),
        paths=paths,
        left_turns=np.asarray(left_turns, dtype=np.float32),
        leaf_values=np.asarray(leaf_values, dtype=np.float32).reshape(-1, 1),
        bias=_prior_log_odds(ensemble, calibration),
    )


def _prior_log_odds(ensemble: GradientBoostingClassifier, samples: FloatArray) -> float:
    """The ensemble's constant term, read through public API only: decision_function minus the
    trees' scaled sum, which must be the same number for every sample."""
    trees = sum(estimator.predict(samples) for (estimator,) in ensemble.estimators_)
    offsets = ensemble.decision_function(samples) - ensemble.learning_rate * trees
    if np.ptp(offsets) > 1e-9:
        raise ValueError(f"the ensemble's offset is not constant (spread {np.ptp(offsets)})")
    return float(offsets[0])


class TreeEnsembleGemm(nn.Module):
    """Binary gradient boosting as MatMul, LessOrEqual, GreaterOrEqual, Add and Sigmoid."""

    # Buffers, not parameters: nothing here is trained by gradient, yet all of it is exported.
    selector: torch.Tensor
    thresholds: torch.Tensor
    paths: torch.Tensor
    left_turns: torch.Tensor
    leaf_values: torch.Tensor
    bias: torch.Tensor

    def __init__(self, tables: GemmTables) -> None:
        super().__init__()
        self.register_buffer("selector", torch.from_numpy(tables.selector))
        self.register_buffer("thresholds", torch.from_numpy(tables.thresholds))
        self.register_buffer("paths", torch.from_numpy(tables.paths))
        self.register_buffer("left_turns", torch.from_numpy(tables.left_turns))
        self.register_buffer("leaf_values", torch.from_numpy(tables.leaf_values))
        self.register_buffer("bias", torch.tensor([tables.bias], dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        decisions = (features @ self.selector <= self.thresholds).to(features.dtype)
        leaves = (decisions @ self.paths >= self.left_turns).to(features.dtype)
        positive = torch.sigmoid(leaves @ self.leaf_values + self.bias)
        return torch.cat([1 - positive, positive], dim=-1)


def load_split() -> tuple[Split, StandardScaler]:
    """The digits split convention on breast-cancer data, then standardization fitted on the
    training part only, so nothing about the held-out rows leaks into the served inputs."""
    data = load_breast_cancer()
    raw = stratified_split(data.data.astype(np.float32), data.target.astype(np.int64))
    scaler = StandardScaler().fit(raw.train_x)

    def standardize(rows: FloatArray) -> FloatArray:
        return np.ascontiguousarray(scaler.transform(rows), dtype=np.float32)

    split = Split(standardize(raw.train_x), raw.train_y, standardize(raw.test_x), raw.test_y)
    return split, scaler


def train_and_export(out_dir: Path, seed: int) -> dict[str, Any]:
    """Write model.onnx, calibration.npy, test_inputs.npy, test_labels.npy and metrics.json;
    return the metrics."""
    make_deterministic(seed)
    split, scaler = load_split()
    ensemble = GradientBoostingClassifier(
        n_estimators=TREES, max_depth=DEPTH, learning_rate=LEARNING_RATE, random_state=seed
    ).fit(split.train_x, split.train_y)
    tables = gemm_tables(ensemble, split.train_x)
    model = TreeEnsembleGemm(tables).eval()
    every_row = np.concatenate([split.train_x, split.test_x])
    reference = _predict_proba(ensemble)

    def tree_metrics(model_path: Path) -> dict[str, Any]:
        return {
            "trees": TREES,
            "max_depth": DEPTH,
            "learning_rate": LEARNING_RATE,
            "tree_nodes": sum(int(est.tree_.node_count) for (est,) in ensemble.estimators_),
            "internal_nodes": len(tables.thresholds),
            "leaves": len(tables.left_turns),
            # The tables are buffers, not trained parameters.
            "parameters": sum(int(buffer.numel()) for buffer in model.buffers()),
            "conversion_route": (
                "own GEMM-strategy rewrite in torch, exported with torch.onnx.export"
                "(dynamo=False); hummingbird-ml 0.4.12 not used (requires onnx<=1.16.1)"
            ),
            "sklearn_version": sklearn.__version__,
            "max_abs_diff_vs_sklearn_predict_proba_all_rows": float(
                np.max(np.abs(onnx_outputs(model_path, every_row) - reference(every_row)))
            ),
            "standardization": {
                "mean": [float(v) for v in scaler.mean_],
                "scale": [float(v) for v in scaler.scale_],
            },
        }

    return publish(out_dir, seed, model, split, EXAMPLE, reference, tree_metrics)


def _predict_proba(ensemble: GradientBoostingClassifier) -> Callable[[FloatArray], FloatArray]:
    """scikit-learn's own probabilities: the reference the rewrite must match."""

    def predict(rows: FloatArray) -> FloatArray:
        return np.asarray(ensemble.predict_proba(rows), dtype=np.float32)

    return predict


if __name__ == "__main__":
    cli(__doc__, __file__, train_and_export)
