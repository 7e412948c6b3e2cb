"""What the model-zoo training scripts share: data, split, training loop, export, scoring, files.

Every zoo model is scored on a held-out split fixed by its own seed (2024, stratified 80/20),
independently of the training seed, the same convention as `examples/digits`, so models trained
with other seeds are compared on the same examples. Training runs with deterministic algorithms on
one thread, because the reduction order, and so the last bits of every weight, depends on both.

The scripts import this module as `examples.zoo_common`, so they put the repository root on
`sys.path` first: that works when they run as scripts and when tests load them by path.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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

from zkgate.pol.onnx_binding import INPUT_NAME, OPSET, export_onnx

FloatArray = npt.NDArray[np.float32]
LabelArray = npt.NDArray[np.int64]

SPLIT_SEED = 2024
HELD_OUT_FRACTION = 0.2
CALIBRATION_SIZE = 32
TEST_SUBSET_SIZE = 100
DIGITS_PIXEL_MAX = 16.0
DIGITS_CLASSES = 10


@dataclass(frozen=True)
class Split:
    """Train and held-out arrays; features already in the model's per-sample input shape."""

    train_x: FloatArray
    train_y: LabelArray
    test_x: FloatArray
    test_y: LabelArray


def stratified_split(features: FloatArray, labels: LabelArray) -> Split:
    """The digits convention (seed 2024, 80/20, stratified), so every zoo model's held-out set is
    fixed by the data alone."""
    train_x, test_x, train_y, test_y = train_test_split(
        features, labels, test_size=HELD_OUT_FRACTION, random_state=SPLIT_SEED, stratify=labels
    )
    return Split(
        train_x=np.ascontiguousarray(train_x, dtype=np.float32),
        train_y=np.asarray(train_y, dtype=np.int64),
        test_x=np.ascontiguousarray(test_x, dtype=np.float32),
        test_y=np.asarray(test_y, dtype=np.int64),
    )


def digits_images() -> tuple[FloatArray, LabelArray]:
    """scikit-learn's bundled 8x8 digits as (N, 8, 8) in [0, 1]: dividing by 16 keeps every pixel
    exactly representable at ezkl's default input scale (k/16 at scale 7)."""
    digits = load_digits()
    images = (digits.images / DIGITS_PIXEL_MAX).astype(np.float32)
    return images, digits.target.astype(np.int64)


def upsample(images: FloatArray, size: int) -> FloatArray:
    """(N, 8, 8) -> (N, 1, size, size) by bilinear interpolation: a convex combination of pixels,
    so values stay in [0, 1], and a fixed function of the data, so the split is unchanged."""
    with torch.no_grad():
        big = nn.functional.interpolate(
            torch.from_numpy(images).unsqueeze(1),
            size=(size, size),
            mode="bilinear",
            align_corners=False,
        )
    return np.ascontiguousarray(big.numpy(), dtype=np.float32)


def make_deterministic(seed: int) -> None:
    """Seed torch and pin what else changes the weights: algorithm choice and thread count."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


@dataclass(frozen=True)
class TrainingPlan:
    """Adam on seeded mini-batches: the hyperparameters are recorded in metrics.json."""

    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "optimizer": "Adam",
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
        }


def train_classifier(model: nn.Module, split: Split, plan: TrainingPlan, seed: int) -> nn.Module:
    """Fit `model` (which must return logits) with cross-entropy. The batch order comes from its
    own generator seeded with `seed`, so it does not depend on how much randomness model
    initialisation drew."""
    order = torch.Generator().manual_seed(seed)
    inputs = torch.from_numpy(split.train_x)
    targets = torch.from_numpy(split.train_y)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=plan.learning_rate, weight_decay=plan.weight_decay
    )
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(plan.epochs):
        for batch in torch.split(torch.randperm(len(inputs), generator=order), plan.batch_size):
            optimizer.zero_grad()
            loss_fn(model(inputs[batch]), targets[batch]).backward()
            optimizer.step()
    return model.eval()


def onnx_outputs(model_path: Path, inputs: FloatArray) -> FloatArray:
    """Run the exported file one sample at a time, the way it is served (batch 1)."""
    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    rows = [session.run(None, {INPUT_NAME: sample[np.newaxis]})[0] for sample in inputs]
    return np.concatenate(rows).astype(np.float32)


def torch_outputs(model: nn.Module, inputs: FloatArray) -> FloatArray:
    with torch.no_grad():
        result: FloatArray = model(torch.from_numpy(inputs)).numpy().astype(np.float32)
    return result


def accuracy(outputs: FloatArray, labels: LabelArray) -> float:
    return float(np.mean(np.argmax(outputs, axis=1) == labels))


def as_model_inputs(samples: FloatArray) -> FloatArray:
    """(N, *sample) -> (N, 1, *sample): each row is then exactly one model input, batch axis
    included, as in examples/digits, so a consumer feeds `rows[i]` to the model unchanged."""
    return np.ascontiguousarray(samples[:, np.newaxis], dtype=np.float32)


def save_examples(out_dir: Path, split: Split) -> None:
    """calibration.npy (first 32 training samples), test_inputs.npy and test_labels.npy (first
    100 held-out samples)."""
    np.save(out_dir / "calibration.npy", as_model_inputs(split.train_x[:CALIBRATION_SIZE]))
    np.save(out_dir / "test_inputs.npy", as_model_inputs(split.test_x[:TEST_SUBSET_SIZE]))
    np.save(out_dir / "test_labels.npy", split.test_y[:TEST_SUBSET_SIZE])


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def score_export(
    model_path: Path, split: Split, reference: Callable[[FloatArray], FloatArray]
) -> dict[str, Any]:
    """Held-out accuracy of the exported file (full split and the bundled 100), and how far
    onnxruntime is from the in-memory model on the whole held-out split."""
    served = onnx_outputs(model_path, split.test_x)
    expected = reference(split.test_x)
    subset = slice(0, TEST_SUBSET_SIZE)
    return {
        "train_size": len(split.train_y),
        "test_size": len(split.test_y),
        "test_accuracy": accuracy(served, split.test_y),
        "test_subset_size": len(split.test_y[subset]),
        "test_subset_accuracy": accuracy(served[subset], split.test_y[subset]),
        "onnxruntime_vs_reference_max_abs_diff": float(np.max(np.abs(served - expected))),
        "onnxruntime_vs_reference_argmax_equal": bool(
            np.array_equal(np.argmax(served, axis=1), np.argmax(expected, axis=1))
        ),
        "onnx_bytes": model_path.stat().st_size,
    }


def common_metrics(seed: int, sample_shape: Sequence[int]) -> dict[str, Any]:
    return {
        "seed": seed,
        "split_seed": SPLIT_SEED,
        "held_out_fraction": HELD_OUT_FRACTION,
        "calibration_size": CALIBRATION_SIZE,
        "input_shape": [1, *sample_shape],
        "opset": OPSET,
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
        "onnxruntime_version": onnxruntime.__version__,
    }


def write_metrics(out_dir: Path, metrics: dict[str, Any]) -> None:
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def cli(
    doc: str | None, script: str, train_and_export: Callable[[Path, int], dict[str, Any]]
) -> None:
    """`--out DIR --seed N`; the default output is the script's own folder, so a plain run
    rewrites the committed files."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--out", type=Path, default=Path(script).resolve().parent)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(train_and_export(args.out, args.seed), indent=2, sort_keys=True))


@dataclass(frozen=True)
class ExampleModel:
    """What a zoo script says of its model; `publish` does the rest the same way for all."""

    sample_shape: tuple[int, ...]
    output_name: str
    architecture: str
    input_scaling: str
    output: str
    # The torch training run's settings; None for a model not trained by train_classifier.
    training: TrainingPlan | None = None


def publish(
    out_dir: Path,
    seed: int,
    model: nn.Module,
    split: Split,
    example: ExampleModel,
    reference: Callable[[FloatArray], FloatArray] | None = None,
    extra: Callable[[Path], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Exports model, saves the example files and writes metrics.json; returns the metrics.
    reference is what onnxruntime is compared with (default: the torch model itself); extra
    adds a script's own metrics, given the exported file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / "model.onnx"
    export_onnx(model, example.sample_shape, model_path, output_name=example.output_name)
    save_examples(out_dir, split)
    metrics = {
        **common_metrics(seed, example.sample_shape),
        **score_export(model_path, split, reference or (lambda x: torch_outputs(model, x))),
        "architecture": example.architecture,
        "parameters": parameter_count(model),
        "input_scaling": example.input_scaling,
        "output": example.output,
        **({} if example.training is None else {"training": example.training.as_dict()}),
        **(extra(model_path) if extra else {}),
    }
    write_metrics(out_dir, metrics)
    return metrics
