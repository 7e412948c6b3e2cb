"""Fidelity: how far the circuit's outputs stray from onnxruntime's on inputs like the
calibration samples, and the tolerance a client accepts by default because of it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import ezkl
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from zkgate.core.card import Fidelity, TensorSpec
from zkgate.core.tensors import NamedTensor
from zkgate.prover.circuits.circuit_files import CircuitFiles
from zkgate.prover.circuits.compilation import sample_witness
from zkgate.prover.circuits.model_signature import ModelSignature
from zkgate.prover.circuits.stage_timing import timed
from zkgate.prover.circuits.witness_input import witness_input_json

# Fidelity is measured on this many inputs (each one witness: 6 ms for the digits MLP), so that
# the tolerance it sets rejects an honest prediction with a chance of at most 1/(N+1).
FIDELITY_SAMPLES = 256
# See fidelity_tolerance.
TOLERANCE_DIFF_FACTOR = 2.0
TOLERANCE_QUANTIZATION_STEPS = 4


def fidelity_tolerance(max_abs_diff: float, output_scale: int) -> float:
    """The served-vs-proven difference a client accepts by default.

    For an input drawn like the N measured ones, the chance that its gap exceeds the largest of
    the N is at most 1/(N+1) (the N+1 gaps are exchangeable, so any one is the largest with
    probability 1/(N+1)). That is the bound the card states. Doubling the worst case, and a
    floor of a few quantization steps for models whose measured gap is near zero, make the real
    chance far smaller; neither is needed for the stated bound.
    """
    step = 2.0**-output_scale
    return TOLERANCE_DIFF_FACTOR * max_abs_diff + TOLERANCE_QUANTIZATION_STEPS * step


def fidelity_inputs(samples: npt.NDArray[Any], count: int) -> npt.NDArray[Any]:
    """The calibration samples, then inputs drawn uniformly from the box they span, `count` in
    all. Calibration sets are often a few dozen rows, and a tolerance measured on 16 of them
    rejected 1 honest prediction in 20 on random inputs; the box covers inputs a client sends
    that are unlike the calibration rows without leaving the ranges the circuit was sized for.
    The draw is seeded by the samples, so a registration is reproducible."""
    real = samples[:count]
    missing = count - len(real)
    if missing <= 0:
        return real
    seed = int.from_bytes(hashlib.sha256(np.ascontiguousarray(samples).tobytes()).digest()[:8])
    rng = np.random.default_rng(seed)
    low, high = samples.min(axis=0), samples.max(axis=0)
    size = (missing, *samples.shape[1:])
    drawn: npt.NDArray[Any]
    if samples.dtype.kind in "biu":
        drawn = rng.integers(low.astype(np.int64), high.astype(np.int64), size, endpoint=True)
    else:
        drawn = rng.uniform(low.astype(np.float64), high.astype(np.float64), size)
    return np.concatenate([real, drawn.astype(samples.dtype)])


def write_sample_inputs(files: CircuitFiles, spec: TensorSpec, inputs: npt.NDArray[Any]) -> None:
    """ezkl's data file of each input, before the mock: sample 0 is the circuit's test proof."""
    for index, sample in enumerate(inputs):
        files.sample_input(index).write_bytes(
            witness_input_json([NamedTensor(spec.name, spec.datatype, sample)])
        )


def fidelity_method(samples: int) -> str:
    return (
        f"tolerance = {TOLERANCE_DIFF_FACTOR:g} x the largest |served - proven| over {samples} "
        f"inputs (the calibration samples, then inputs drawn uniformly from the box they span) "
        f"+ {TOLERANCE_QUANTIZATION_STEPS} steps of the output scale; an honest prediction on "
        f"an input like these exceeds the largest measured gap with probability at most "
        f"1/{samples + 1}"
    )


def measure_fidelity(
    label: str,
    session: ort.InferenceSession,
    signature: ModelSignature,
    samples: npt.NDArray[Any],
    output_scales: list[int],
    files: CircuitFiles,
) -> Fidelity:
    """Circuit outputs, read from the witness felts as a client reads them from instances,
    against onnxruntime's floats, on the inputs write_sample_inputs wrote; a witness made
    before (the mock's, of sample 0) is used as it is. Argmax is taken along each output's last
    axis."""
    input_name = signature.inputs[0].name
    max_abs_diff = 0.0
    agreeing = 0
    compared = 0
    with timed(label, "fidelity"):
        for index, sample in enumerate(samples):
            if not files.sample_witness(index).exists():
                sample_witness(files, index)
            served = session.run(None, {input_name: sample})
            witness = json.loads(files.sample_witness(index).read_text())
            for spec, scale, felts, reference in zip(
                signature.outputs, output_scales, witness["outputs"], served, strict=True
            ):
                proven = np.array([ezkl.felt_to_float(felt, scale) for felt in felts]).reshape(
                    spec.shape
                )
                expected = np.asarray(reference, dtype=np.float64)
                max_abs_diff = max(max_abs_diff, float(np.max(np.abs(proven - expected))))
                same = np.argmax(proven, axis=-1) == np.argmax(expected, axis=-1)
                agreeing += int(np.sum(same))
                compared += same.size
    return Fidelity(
        samples=len(samples),
        max_abs_diff=max_abs_diff,
        argmax_agreement=agreeing / compared,
        tolerance=fidelity_tolerance(max_abs_diff, min(output_scales)),
        method=fidelity_method(len(samples)),
        false_rejection_bound=1 / (len(samples) + 1),
    )
