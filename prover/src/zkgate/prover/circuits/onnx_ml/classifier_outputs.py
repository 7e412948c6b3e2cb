"""What ONNX-ML classifiers do after scoring: the post-transform, and the label.

The label is the ArgMax of the class scores (the top class, as onnxruntime picks it), mapped to
the class's own integer label with a Gather when the labels are not 0..K-1. It is taken from the
scores before the post-transform: every transform handled here keeps the order of a row, so the
label is the same in floating point, while in the circuit the raw scores are exact sums and the
transformed ones come out of a lookup table, where two close probabilities can round to the
same value and turn a clear label into a tie. String labels have
no place in a circuit, whose outputs are numbers: they are refused, with the way round them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zkgate.prover.circuits.onnx_ml.graph_writer import ConversionError, GraphWriter

# Post-transforms with a standard-ONNX rewrite ezkl proves (Sigmoid and Softmax are lookups).
_ELEMENTWISE = {"NONE": None, "LOGISTIC": "Sigmoid"}


def int_class_labels(op: str, attrs: dict[str, Any]) -> list[int]:
    """The classifier's integer class labels, in score order."""
    if attrs.get("classlabels_strings"):
        raise ConversionError(
            f"{op} has string class labels {attrs['classlabels_strings'][:4]}...: a circuit's "
            "outputs are numbers; encode the classes as integers before fitting (e.g. "
            "sklearn.preprocessing.LabelEncoder on y) and export again, and map the integers "
            "back to names in the client"
        )
    labels = attrs.get("classlabels_int64s", attrs.get("classlabels_ints"))
    if not labels:
        raise ConversionError(f"{op} names no class labels; export it with integer labels")
    return [int(label) for label in labels]


def post_transform(op: str, writer: GraphWriter, scores: str, transform: str, output: str) -> str:
    """The scores after the node's post_transform, under the name `output`."""
    if transform == "SOFTMAX":
        return writer.node("Softmax", [scores], output, axis=1)
    if transform not in _ELEMENTWISE:
        raise ConversionError(
            f"{op} has post_transform {transform!r}, which zkgate cannot rewrite (it handles "
            "NONE, LOGISTIC and SOFTMAX); export the model without it and apply the transform "
            "in the client"
        )
    function = _ELEMENTWISE[transform]
    if function is None:
        return writer.node("Identity", [scores], output)
    return writer.node(function, [scores], output)


def binary_scores(writer: GraphWriter, score: str, transform: str, all_positive: bool) -> str:
    """Two columns from the one score of a binary classifier (class_ids all 0), as
    onnxruntime writes them: [1 - p, p] for weights that are probabilities (all positive,
    post_transform NONE), and otherwise [-s, s] before the transform, so that LOGISTIC gives
    [sigmoid(-s), sigmoid(s)]."""
    if all_positive and transform == "NONE":
        one = writer.constant("one", [1.0])
        negative = writer.node("Sub", [one, score])
    else:
        negative = writer.node("Neg", [score])
    return writer.node("Concat", [negative, score], axis=1)


def label_output(writer: GraphWriter, scores: str, labels: list[int], output: str) -> str:
    """The top class's label as int64 [N], under the name `output`."""
    if labels == list(range(len(labels))):
        return writer.node("ArgMax", [scores], output, axis=1, keepdims=0)
    index = writer.node("ArgMax", [scores], axis=1, keepdims=0)
    table = writer.constant("class_labels", labels, dtype=np.int64)
    return writer.node("Gather", [table, index], output, axis=0)
