"""Train and export the bundled digits classifier that zkgate's demo and tests prove against.

The model is kept tiny on purpose: the test suite runs real ezkl proofs on it on a 2-core machine,
so every multiply-accumulate in the graph turns into circuit rows. Pixels are divided by 16 before
they reach the model, so inputs lie in [0, 1], where ezkl's fixed-point quantization is exact for
every digits pixel value (k/16 at input scale 7).

Rerunning with the same seed rewrites byte-identical artifacts on the same processor; on another,
MKL's float kernels may round the weights differently in the last bits (measured: 1.4e-6 at most),
while data and metrics stay identical. Another seed gives the same architecture with other
weights.

Usage: .venv/bin/python examples/digits/train.py [--out DIR] [--seed N] [--arch NAME]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from zkgate.pol.onnx_binding import INPUT_NAME, OPSET, OUTPUT_NAME, export_onnx

PIXEL_MAX = 16.0
NUM_CLASSES = 10
NUM_FEATURES = 64
# The split is fixed independently of the training seed, so models trained with different seeds
# are scored on the same held-out examples.
SPLIT_SEED = 2024
HELD_OUT_FRACTION = 0.2
CALIBRATION_SIZE = 32
TEST_SUBSET_SIZE = 100
EPOCHS = 50
BATCH_SIZE = 64
LEARNING_RATE = 0.01


class Mlp(nn.Module):
    """A one-hidden-layer MLP on the 64 raw pixels."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(NUM_FEATURES, hidden)
        self.out = nn.Linear(hidden, NUM_CLASSES)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.out(torch.relu(self.hidden(pixels)))
        return logits


class PooledMlp(nn.Module):
    """An MLP behind a 2x2 average pool (8x8 -> 4x4).

    The pool lives inside the graph so the served model still takes the raw 1x64 row and clients
    need no preprocessing beyond the divide by 16.
    """

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(kernel_size=2)
        self.hidden = nn.Linear(16, hidden)
        self.out = nn.Linear(hidden, NUM_CLASSES)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(pixels.reshape(-1, 1, 8, 8)).flatten(1)
        logits: torch.Tensor = self.out(torch.relu(self.hidden(pooled)))
        return logits


class Linear(nn.Module):
    """Multinomial logistic regression on the 64 raw pixels: the smallest sensible circuit."""

    def __init__(self) -> None:
        super().__init__()
        self.out = nn.Linear(NUM_FEATURES, NUM_CLASSES)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.out(pixels)
        return logits


ARCHITECTURES: dict[str, Callable[[], nn.Module]] = {
    "mlp-64-16-10": lambda: Mlp(hidden=16),
    "pool2x2-16-32-10": lambda: PooledMlp(hidden=32),
    "linear-64-10": Linear,
}
DEFAULT_ARCHITECTURE = "mlp-64-16-10"

FloatArray = npt.NDArray[np.float32]
LabelArray = npt.NDArray[np.int64]


def load_split() -> tuple[FloatArray, LabelArray, FloatArray, LabelArray]:
    """Return (train_x, train_y, test_x, test_y) with pixels scaled into [0, 1]."""
    digits = load_digits()
    features = (digits.data / PIXEL_MAX).astype(np.float32)
    labels = digits.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        features,
        labels,
        test_size=HELD_OUT_FRACTION,
        random_state=SPLIT_SEED,
        stratify=labels,
    )
    return train_x, train_y, test_x, test_y


def train(model: nn.Module, train_x: FloatArray, train_y: LabelArray, seed: int) -> nn.Module:
    """Fit with Adam on seeded mini-batches; the shuffling generator is seeded too."""
    order_generator = torch.Generator().manual_seed(seed)
    inputs = torch.from_numpy(train_x)
    targets = torch.from_numpy(train_y)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(EPOCHS):
        permutation = torch.randperm(len(inputs), generator=order_generator)
        for batch in torch.split(permutation, BATCH_SIZE):
            optimizer.zero_grad()
            loss_fn(model(inputs[batch]), targets[batch]).backward()
            optimizer.step()
    return model.eval()


def onnx_accuracy(model_path: Path, inputs: FloatArray, labels: LabelArray) -> float:
    """Score the exported file one row at a time, the way it is served."""
    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    correct = 0
    for row, label in zip(inputs, labels, strict=True):
        (logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: row.reshape(1, NUM_FEATURES)})
        correct += int(np.argmax(logits) == label)
    return correct / len(labels)


def as_samples(rows: FloatArray) -> FloatArray:
    """Stack rows as (N, 1, 64): each sample already has the model's fixed input shape."""
    return np.ascontiguousarray(rows.reshape(-1, 1, NUM_FEATURES), dtype=np.float32)


def train_and_export(
    out_dir: Path, seed: int, architecture: str = DEFAULT_ARCHITECTURE
) -> dict[str, Any]:
    """Write model.onnx, calibration.npy, test_inputs.npy, test_labels.npy and metrics.json.

    Returns the metrics that were written.
    """
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    # One thread makes the floating-point reduction order, and so the weights, machine-independent.
    torch.set_num_threads(1)

    train_x, train_y, test_x, test_y = load_split()
    model = train(ARCHITECTURES[architecture](), train_x, train_y, seed)

    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / "model.onnx"
    export_onnx(model, NUM_FEATURES, model_path)
    subset_x, subset_y = test_x[:TEST_SUBSET_SIZE], test_y[:TEST_SUBSET_SIZE]
    np.save(out_dir / "calibration.npy", as_samples(train_x[:CALIBRATION_SIZE]))
    np.save(out_dir / "test_inputs.npy", as_samples(subset_x))
    np.save(out_dir / "test_labels.npy", subset_y)

    metrics: dict[str, Any] = {
        "architecture": architecture,
        "parameters": sum(p.numel() for p in model.parameters()),
        "seed": seed,
        "split_seed": SPLIT_SEED,
        "train_size": len(train_y),
        "test_size": len(test_y),
        "test_accuracy": onnx_accuracy(model_path, test_x, test_y),
        "test_subset_size": len(subset_y),
        "test_subset_accuracy": onnx_accuracy(model_path, subset_x, subset_y),
        "calibration_size": CALIBRATION_SIZE,
        "input_scaling": "pixels / 16, in [0, 1]",
        "opset": OPSET,
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default=DEFAULT_ARCHITECTURE)
    args = parser.parse_args()
    metrics = train_and_export(args.out, args.seed, args.arch)
    print(json.dumps(metrics, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
