"""Fidelity: how far the circuit's outputs stray from onnxruntime's on inputs like the
calibration samples, and the tolerance a client accepts by default because of it.

Each output is measured on its own. A float output's tolerance comes from its measured gap and
its own output scale; an integer output (a class label from an ArgMax, a count) is held to
equality, since there is no quantization gap to allow for: a label one class away from the
proven one is another answer, not a rounding error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import ezkl
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from zkgate.core.card import (
    ARGMAX,
    EXACT,
    Fidelity,
    OutputFidelity,
    TensorSpec,
    is_integer_datatype,
)
from zkgate.prover.circuits.circuit_files import CircuitFiles
from zkgate.prover.circuits.compilation import sample_witness
from zkgate.prover.circuits.input_samples import InputSamples
from zkgate.prover.circuits.model_signature import ModelSignature
from zkgate.prover.circuits.stage_timing import timed

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


def fidelity_inputs(samples: InputSamples, count: int) -> InputSamples:
    """The calibration samples, then inputs drawn uniformly from the box they span, `count` in
    all. Calibration sets are often a few dozen rows, and a tolerance measured on 16 of them
    rejected 1 honest prediction in 20 on random inputs; the box covers inputs a client sends
    that are unlike the calibration rows without leaving the ranges the circuit was sized for.
    The draw is seeded by the samples, so a registration is reproducible; each input is drawn
    from its own box."""
    real = samples[:count]
    missing = count - len(real)
    if missing <= 0:
        return real
    rng = np.random.default_rng(int.from_bytes(samples.digest()[:8]))
    drawn = InputSamples(samples.specs, tuple(_drawn(rng, a, missing) for a in samples.arrays))
    return real.joined(drawn)


def _drawn(rng: np.random.Generator, samples: npt.NDArray[Any], count: int) -> npt.NDArray[Any]:
    low, high = samples.min(axis=0), samples.max(axis=0)
    size = (count, *samples.shape[1:])
    drawn: npt.NDArray[Any]
    if samples.dtype.kind in "biu":
        drawn = rng.integers(low.astype(np.int64), high.astype(np.int64), size, endpoint=True)
    else:
        drawn = rng.uniform(low.astype(np.float64), high.astype(np.float64), size)
    return drawn.astype(samples.dtype)


def write_sample_inputs(files: CircuitFiles, inputs: InputSamples) -> None:
    """ezkl's data file of each input, before the mock: sample 0 is the circuit's test proof."""
    for index in range(len(inputs)):
        files.sample_input(index).write_bytes(inputs.sample_data(index))


def fidelity_method(samples: int) -> str:
    return (
        f"per output: a float output's tolerance = {TOLERANCE_DIFF_FACTOR:g} x its largest "
        f"|served - proven| over {samples} inputs (the calibration samples, then inputs drawn "
        f"uniformly from the box they span) + {TOLERANCE_QUANTIZATION_STEPS} steps of its "
        "output scale, agreement = argmax agreement along the last axis; an integer output "
        "(class label, count) must equal the proven one (tolerance 0), agreement = share of "
        "exact matches. An honest prediction on an input like these exceeds an output's largest "
        f"measured gap with probability at most 1/{samples + 1}; the bound adds that up over "
        "the outputs, plus each integer output's measured mismatch rate"
    )


@dataclass
class _OutputGap:
    """What the measurement has seen of one output so far."""

    spec: TensorSpec
    scale: int
    max_abs_diff: float = 0.0
    agreeing: int = 0
    compared: int = 0
    # Samples whose served value was not the proven one, for an output compared exactly.
    mismatched: int = 0

    @property
    def exact(self) -> bool:
        return is_integer_datatype(self.spec.datatype)

    def add(self, proven: npt.NDArray[np.float64], served: npt.NDArray[np.float64]) -> None:
        gap = float(np.max(np.abs(proven - served), initial=0.0))
        self.max_abs_diff = max(self.max_abs_diff, gap)
        if self.exact:
            same = np.array([gap == 0])
            self.mismatched += int(gap != 0)
        else:
            same = np.argmax(proven, axis=-1) == np.argmax(served, axis=-1)
        self.agreeing += int(np.sum(same))
        self.compared += same.size

    def figures(self) -> OutputFidelity:
        return OutputFidelity(
            name=self.spec.name,
            comparison=EXACT if self.exact else ARGMAX,
            max_abs_diff=self.max_abs_diff,
            agreement=self.agreeing / self.compared,
            tolerance=0.0 if self.exact else fidelity_tolerance(self.max_abs_diff, self.scale),
        )


def measure_fidelity(
    label: str,
    session: ort.InferenceSession,
    signature: ModelSignature,
    samples: InputSamples,
    output_scales: list[int],
    files: CircuitFiles,
) -> Fidelity:
    """Circuit outputs, read from the witness felts as a client reads them from instances,
    against onnxruntime's, on the inputs write_sample_inputs wrote; a witness made before (the
    mock's, of sample 0) is used as it is."""
    gaps = [
        _OutputGap(spec, scale)
        for spec, scale in zip(signature.outputs, output_scales, strict=True)
    ]
    with timed(label, "fidelity"):
        for index in range(len(samples)):
            if not files.sample_witness(index).exists():
                sample_witness(files, index)
            served = session.run(None, samples.feeds(index))
            witness = json.loads(files.sample_witness(index).read_text())
            for gap, felts, reference in zip(gaps, witness["outputs"], served, strict=True):
                proven = np.array([ezkl.felt_to_float(felt, gap.scale) for felt in felts])
                gap.add(proven.reshape(gap.spec.shape), np.asarray(reference, dtype=np.float64))
    outputs = [gap.figures() for gap in gaps]
    # Each output's chance of an honest rejection, added up: 1/(N+1) for a gap past the largest
    # measured, and for an output compared exactly, the share of measured inputs it missed.
    bound = sum((1 + gap.mismatched) / (len(samples) + 1) for gap in gaps)
    return Fidelity(
        samples=len(samples),
        max_abs_diff=max(o.max_abs_diff for o in outputs),
        argmax_agreement=min(o.agreement for o in outputs),
        tolerance=max(o.tolerance for o in outputs),
        method=fidelity_method(len(samples)),
        false_rejection_bound=min(1.0, bound),
        outputs=outputs,
    )
