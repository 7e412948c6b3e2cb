"""Train and export LeNet-5 on 1x28x28 digits, the classic zkml benchmark.

scikit-learn's bundled 8x8 digits are upsampled bilinearly to 28x28 (values stay in [0, 1]), so
the data is available offline; the network is LeNet-5 as usually rebuilt for MNIST-size inputs,
with ReLU and average pooling: Conv(1->6, k5, pad 2) ReLU AvgPool2 Conv(6->16, k5) ReLU AvgPool2
Linear(400->120) ReLU Linear(120->84) ReLU Linear(84->10).

Usage: .venv/bin/python examples/lenet5/train.py [--out DIR] [--seed N]
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
    upsample,
)

IMAGE_SIZE = 28
SAMPLE_SHAPE = (1, IMAGE_SIZE, IMAGE_SIZE)
OUTPUT_NAME = "logits"
PLAN = TrainingPlan(epochs=30, batch_size=32, learning_rate=1e-3)
EXAMPLE = ExampleModel(
    training=PLAN,
    sample_shape=SAMPLE_SHAPE,
    output_name=OUTPUT_NAME,
    architecture="lenet5: conv6k5p2-relu-avgpool2-conv16k5-relu-avgpool2-120-84-10",
    input_scaling="digits 8x8 / 16, bilinear upsampled to 28x28, in [0, 1]",
    output=f"{OUTPUT_NAME}: float32 [1, 10]",
)


class LeNet5(nn.Module):
    """The layer sizes of LeCun et al. (1998); ReLU and average pooling as in today's rebuilds."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.AvgPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.ReLU(),
            nn.AvgPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, DIGITS_CLASSES),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.classifier(self.features(images).flatten(1))
        return logits


def load_split() -> Split:
    images, labels = digits_images()
    return stratified_split(upsample(images, IMAGE_SIZE), labels)


def train_and_export(out_dir: Path, seed: int) -> dict[str, Any]:
    """Write model.onnx, calibration.npy, test_inputs.npy, test_labels.npy and metrics.json;
    return the metrics."""
    make_deterministic(seed)
    split = load_split()
    model = train_classifier(LeNet5(), split, PLAN, seed)
    return publish(
        out_dir, seed, model, split, EXAMPLE, extra=lambda _: {"training": PLAN.as_dict()}
    )


if __name__ == "__main__":
    cli(__doc__, __file__, train_and_export)
