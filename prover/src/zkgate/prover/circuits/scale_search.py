"""Finding the fixed-point scales whose circuits meet the fidelity target on held-out
calibration samples.

The scale sets every quantized value's precision, so it alone decides fidelity; the layout
(decomposition, columns) only decides how the same values are laid out in rows. Lower scales
shrink every lookup table and the ranges values span, so the cheapest layouts are found at the
lowest passing scales. Each probe is one calibration at a single pinned scale (seconds,
against minutes for ezkl's own search over every scale) and one witness per held-out sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zkgate.core.card import TuningCandidate
from zkgate.core.fidelity_target import FidelityTarget
from zkgate.prover.circuits.calibration import (
    DECOMPOSITIONS,
    CircuitChoices,
    LayoutRequest,
    calibrate_layout,
    settings_output_scales,
    settings_size,
)
from zkgate.prover.circuits.compilation import compile_circuit
from zkgate.prover.circuits.ezkl_calls import ProvingError
from zkgate.prover.circuits.fidelity import measure_fidelity, write_sample_inputs
from zkgate.prover.circuits.input_samples import InputSamples
from zkgate.prover.circuits.layout_search import layout_of
from zkgate.prover.circuits.registration_checks import RegistrationError
from zkgate.prover.circuits.submitted_model import SubmittedModel

# ezkl's default scale: the search starts there and walks down while the target holds, or up
# until it does.
START_SCALE = 7
MIN_SCALE = 1
MAX_SCALE = 16
# Calibration needs a few samples to size lookup ranges; the rest are held out for fidelity.
MAX_FIT_SAMPLES = 16
MAX_CHECK_SAMPLES = 256
# The layout scales are probed at: ezkl's default decomposition and columns.
PROBE_DECOMPOSITION = DECOMPOSITIONS[0]


@dataclass(frozen=True)
class HeldOutSplit:
    """Calibration samples split into those calibration sizes lookups on and those fidelity is
    checked on. With a single sample both are that sample, and the record says so."""

    fit: InputSamples
    check: InputSamples

    @classmethod
    def of(cls, samples: InputSamples) -> HeldOutSplit:
        if len(samples) < 2:
            return cls(samples, samples)
        fit = min(MAX_FIT_SAMPLES, len(samples) // 2)
        return cls(samples[:fit], samples[fit:][:MAX_CHECK_SAMPLES])

    @property
    def held_out(self) -> bool:
        return self.check is not self.fit


@dataclass(frozen=True)
class ScaleProbe:
    scale: int
    candidate: TuningCandidate
    shortfall: str | None

    @property
    def meets(self) -> bool:
        return self.shortfall is None


def write_calibration_data(samples: InputSamples, path: Path) -> Path:
    """ezkl's calibration data file of these samples of the model's inputs."""
    path.write_bytes(samples.input_data())
    return path


def choose_scale(
    model: SubmittedModel,
    choices: CircuitChoices,
    target: FidelityTarget,
    split: HeldOutSplit,
    max_probes: int,
) -> list[ScaleProbe]:
    """Every probe made, in order: from START_SCALE down while the target holds, or up until it
    does; a pinned scale (choices.scales) is probed alone. Raises RegistrationError when no
    probed scale passes."""
    if choices.scales is not None:
        probes = [_probe(model, choices, choices.scales[0], target, split)]
    else:
        probes = [_probe(model, choices, START_SCALE, target, split)]
        step = -1 if probes[0].meets else 1
        scale = START_SCALE + step
        while len(probes) < max_probes and MIN_SCALE <= scale <= MAX_SCALE:
            probe = _probe(model, choices, scale, target, split)
            probes.append(probe)
            if probe.meets != (step < 0):
                break
            scale += step
    if not any(p.meets for p in probes):
        tried = "; ".join(f"scale {p.scale}: {p.shortfall}" for p in probes)
        raise RegistrationError(
            f"no circuit meets the fidelity target {target} on {len(split.check)} held-out "
            f"calibration samples ({tried}): relax the target (e.g. --fidelity argmax:0.95 or "
            "max-abs:EPS)"
            + ("; --tuning thorough probes more scales" if len(probes) == max_probes else "")
            + ", or check that the calibration samples are inputs the model is meant for"
        )
    return probes


def _probe(
    model: SubmittedModel,
    choices: CircuitChoices,
    scale: int,
    target: FidelityTarget,
    split: HeldOutSplit,
) -> ScaleProbe:
    files = model.candidate_files(f"scale-{scale}")
    base, legs = PROBE_DECOMPOSITION
    request = LayoutRequest(base, legs, scales=(scale, 1))
    layout = layout_of(request, logrows=0)
    try:
        calibrate_layout(
            model.onnx_path,
            write_calibration_data(split.fit, files.calibration),
            files.settings,
            choices,
            request,
        )
        logrows, rows = settings_size(files.settings)
        layout = layout_of(request, logrows)
        compile_circuit(f"{model.name} (scale {scale})", model.onnx_path, files)
        write_sample_inputs(files, split.check)
        fidelity = measure_fidelity(
            f"{model.name} (scale {scale})",
            model.session,
            model.signature,
            split.check,
            settings_output_scales(files.settings),
            files,
        )
    except (RegistrationError, ProvingError) as exc:
        failure = f"no circuit at this scale: {exc}"
        return ScaleProbe(scale, TuningCandidate(layout, 0, None, None, failure), failure)
    shortfall = target.shortfall(
        argmax_agreement=fidelity.argmax_agreement, max_abs_diff=fidelity.max_abs_diff
    )
    score = target.score(
        argmax_agreement=fidelity.argmax_agreement, max_abs_diff=fidelity.max_abs_diff
    )
    outcome = "scale probe: meets the target" if shortfall is None else f"scale probe: {shortfall}"
    return ScaleProbe(scale, TuningCandidate(layout, rows, score, None, outcome), shortfall)
