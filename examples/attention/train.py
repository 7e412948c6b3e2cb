"""Train and export a small attention block over a short sequence: digits rows as tokens.

The 8x8 digit is read as a sequence of 8 tokens (its rows) of 8 features. One pre-LayerNorm
transformer block runs over them: Linear embedding 8->16 plus a learned position embedding,
LayerNorm, single-head scaled dot-product self-attention with Softmax, residual, LayerNorm, an MLP
16->32->16 with GELU, residual, then the mean over tokens and a Linear 16->10 to logits. It puts
the three operations that are costly to prove in one small graph: LayerNorm, GELU and Softmax,
plus a product of two activations (queries times keys).

Two choices keep it as small as the task allows without changing what it is. The position
embedding is there because self-attention and a mean over tokens are both blind to order, so
without it the model would see the rows as an unordered set. A single head has no output
projection: it would compose with the value projection into one linear map.

Usage: .venv/bin/python examples/attention/train.py [--out DIR] [--seed N]
"""

from __future__ import annotations

import math
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

TOKENS = 8
TOKEN_FEATURES = 8
WIDTH = 16
MLP_WIDTH = 32
SAMPLE_SHAPE = (TOKENS, TOKEN_FEATURES)
OUTPUT_NAME = "logits"
PLAN = TrainingPlan(epochs=100, batch_size=64, learning_rate=1e-2, weight_decay=1e-4)
EXAMPLE = ExampleModel(
    training=PLAN,
    sample_shape=SAMPLE_SHAPE,
    output_name=OUTPUT_NAME,
    architecture=(
        "attention: embed 8->16 + position, LayerNorm, 1-head self-attention (Softmax), "
        "residual, LayerNorm, MLP 16-32-16 GELU, residual, mean over 8 tokens, Linear 16->10"
    ),
    input_scaling="digits 8x8 / 16 as 8 tokens (rows) of 8 features, in [0, 1]",
    output=f"{OUTPUT_NAME}: float32 [1, 10]",
)


class AttentionClassifier(nn.Module):
    """One pre-LayerNorm transformer block, mean-pooled, with a linear classifier head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(TOKEN_FEATURES, WIDTH)
        self.position = nn.Parameter(0.02 * torch.randn(TOKENS, WIDTH))
        self.attention_norm = nn.LayerNorm(WIDTH)
        self.query = nn.Linear(WIDTH, WIDTH)
        self.key = nn.Linear(WIDTH, WIDTH)
        self.value = nn.Linear(WIDTH, WIDTH)
        self.mlp_norm = nn.LayerNorm(WIDTH)
        self.mlp = nn.Sequential(
            nn.Linear(WIDTH, MLP_WIDTH), nn.GELU(), nn.Linear(MLP_WIDTH, WIDTH)
        )
        self.head = nn.Linear(WIDTH, DIGITS_CLASSES)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(rows) + self.position
        normed = self.attention_norm(tokens)
        scores = self.query(normed) @ self.key(normed).transpose(-2, -1) / math.sqrt(WIDTH)
        tokens = tokens + torch.softmax(scores, dim=-1) @ self.value(normed)
        tokens = tokens + self.mlp(self.mlp_norm(tokens))
        logits: torch.Tensor = self.head(tokens.mean(dim=1))
        return logits


def load_split() -> Split:
    return stratified_split(*digits_images())


def train_and_export(out_dir: Path, seed: int) -> dict[str, Any]:
    """Write model.onnx, calibration.npy, test_inputs.npy, test_labels.npy and metrics.json;
    return the metrics."""
    make_deterministic(seed)
    split = load_split()
    model = train_classifier(AttentionClassifier(), split, PLAN, seed)
    return publish(
        out_dir, seed, model, split, EXAMPLE, extra=lambda _: {"training": PLAN.as_dict()}
    )


if __name__ == "__main__":
    cli(__doc__, __file__, train_and_export)
