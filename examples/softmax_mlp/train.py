"""Train and export a digits MLP whose served output is Softmax probabilities.

A model that serves probabilities rather than logits puts an exponential and a division into the
circuit, which is what makes Softmax outputs expensive to prove; this is the smallest honest case:
64 -> 32 (ReLU) -> 10 -> Softmax. It is trained on logits with cross-entropy and exported with the
Softmax appended, so the served graph ends in an ONNX `Softmax` node.

Usage: .venv/bin/python examples/softmax_mlp/train.py [--out DIR] [--seed N]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

if str(Path(__file__).resolve().parents[2]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from examples.zoo_common import (
    DIGITS_CLASSES,
    ExampleModel,
    Split,
    TrainingPlan,
    cli,
    digits_images,
    make_deterministic,
    publish,
    stratified_split,
    train_classifier,
)

NUM_FEATURES = 64
HIDDEN = 32
SAMPLE_SHAPE = (NUM_FEATURES,)
OUTPUT_NAME = "probabilities"
PLAN = TrainingPlan(epochs=50, batch_size=64, learning_rate=1e-2)
EXAMPLE = ExampleModel(
    training=PLAN,
    sample_shape=SAMPLE_SHAPE,
    output_name=OUTPUT_NAME,
    architecture="mlp-64-32-10-softmax",
    input_scaling="digits 8x8 / 16, flattened, in [0, 1]",
    output=f"{OUTPUT_NAME}: float32 [1, 10], Softmax over the classes (rows sum to 1)",
)


class WithSoftmax(nn.Module):
    """Serves probabilities from a network trained on logits (cross-entropy wants logits)."""

    def __init__(self, logits: nn.Module) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(features), dim=-1)


def load_split() -> Split:
    images, labels = digits_images()
    return stratified_split(images.reshape(len(images), NUM_FEATURES), labels)


def train_and_export(out_dir: Path, seed: int) -> dict[str, Any]:
    """Write model.onnx, calibration.npy, test_inputs.npy, test_labels.npy and metrics.json;
    return the metrics."""
    make_deterministic(seed)
    split = load_split()
    network = nn.Sequential(
        nn.Linear(NUM_FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, DIGITS_CLASSES)
    )
    model = WithSoftmax(train_classifier(network, split, PLAN, seed)).eval()
    return publish(
        out_dir, seed, model, split, EXAMPLE, extra=lambda _: {"training": PLAN.as_dict()}
    )


if __name__ == "__main__":
    cli(__doc__, __file__, train_and_export)
