"""The card's record of an ONNX-ML conversion, made once the rewrite has been checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy.typing as npt
import onnxruntime as ort

from zkgate.core.card import Conversion
from zkgate.core.srs import file_sha256
from zkgate.prover.circuits.onnx_ml.agreement import check_agreement
from zkgate.prover.circuits.onnx_ml.conversion import (
    CONVERTER_VERSION,
    STRATEGY,
    TOOL,
    ConvertedGraph,
)

# The gateway serves the rewritten graph, the one the circuit is built from, so that a
# verified output always refers to the graph that answered the request.
SERVED = "converted"


def conversion_record(
    original: Path,
    converted: ConvertedGraph,
    session: ort.InferenceSession,
    samples: list[npt.NDArray[Any]],
) -> Conversion:
    """Checks the rewrite (session) against the original on the calibration samples (one
    array per input) and describes it; refuses with ConversionError if they disagree."""
    agreement = check_agreement(original, session, samples)
    return Conversion(
        tool=TOOL,
        tool_version=CONVERTER_VERSION,
        strategy=STRATEGY,
        original_onnx_sha256=file_sha256(original),
        operators=converted.operators,
        samples=agreement.samples,
        max_abs_diff=agreement.max_abs_diff,
        served=SERVED,
    )
