"""Circuit tuning: the layout with the lowest measured prove time among those whose fidelity on
held-out calibration samples meets the registrant's target; of layouts whose times are within
the noise of one measurement (NEAR_TIE), the one whose proof took the least memory.

Three steps, each cheaper than the next is expensive:
1. the scales that meet the target (scale_search.py), a calibration and a few witnesses per
   probe;
2. the layouts at those scales (layout_search.py): each sized by ezkl in about a second and
   ranked by predicted cost, the unpromising pruned; where two scales give the same layout, the
   higher (more faithful) one is kept, since it costs the same;
3. the promising few keyed and proven once each, in a process of their own, cheapest predicted
   first, until the effort's count or time budget runs out.

The winner's keys and test proof are the registration's: nothing is made twice. The card's
tuning section records every candidate, its rows, fidelity and prove time, and why the winner
won.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from zkgate.core.card import Tuning, TuningCandidate
from zkgate.core.fidelity_target import FidelityTarget, TuningEffort
from zkgate.prover.circuits.calibration import CircuitChoices, calibrate_layout
from zkgate.prover.circuits.compilation import compile_circuit, sample_witness
from zkgate.prover.circuits.ezkl_calls import ProvingError
from zkgate.prover.circuits.keying import Keying, MeasuredKeys, key_and_measure
from zkgate.prover.circuits.layout_search import PRUNE_FACTOR, SizedLayout, sized_layouts
from zkgate.prover.circuits.registration_checks import RegistrationError
from zkgate.prover.circuits.scale_search import (
    HeldOutSplit,
    ScaleProbe,
    choose_scale,
    write_calibration_data,
)
from zkgate.prover.circuits.srs_files import SrsError
from zkgate.prover.circuits.submitted_model import SubmittedModel

logger = logging.getLogger("zkgate.prover.tuning")


@dataclass(frozen=True)
class EffortLimits:
    scale_probes: int
    measured_layouts: int
    # Measuring stops once this much time went on it (after the first measured layout).
    measure_seconds: float


EFFORT_LIMITS = {
    TuningEffort.FAST: EffortLimits(scale_probes=4, measured_layouts=6, measure_seconds=90.0),
    TuningEffort.THOROUGH: EffortLimits(
        scale_probes=16, measured_layouts=16, measure_seconds=900.0
    ),
}


# Two layouts whose one measured proof each differ by less than this are a tie: one proof on a
# loaded machine does not tell them apart (LeNet-5's 2^18 x 4 and 2^19 x 2 columns measured
# 110.7 s and 100.4 s, the other way round from their predicted costs), so memory decides.
NEAR_TIE = 0.15


def better(a: MeasuredKeys, b: MeasuredKeys) -> MeasuredKeys:
    """The faster, unless the two are a near tie: then the one with the lower peak memory."""
    slow, fast = sorted((a, b), key=lambda k: k.cost.seconds)[::-1]
    if slow.cost.seconds <= fast.cost.seconds * (1 + NEAR_TIE):
        return min((a, b), key=lambda k: (k.cost.peak_rss_bytes, k.cost.seconds))
    return fast


@dataclass(frozen=True)
class TunedCircuit:
    keys: MeasuredKeys
    record: Tuning


def tune_circuit(
    model: SubmittedModel,
    choices: CircuitChoices,
    target: FidelityTarget,
    effort: TuningEffort,
    keying: Keying,
) -> TunedCircuit:
    started = time.monotonic()
    limits = EFFORT_LIMITS[effort]
    split = HeldOutSplit.of(model.samples)
    probes = choose_scale(model, choices, target, split, limits.scale_probes)
    passing = {p.scale: p for p in probes if p.meets}
    # Rows do not depend on the values, so one sample sizes a layout.
    sizing = write_calibration_data(split.fit[:1], model.files.directory / "sizing.json")
    sized, refused = sized_layouts(model, choices, sorted(passing), effort, sizing)
    if not sized:
        raise RegistrationError(refused[0].outcome if refused else "no layout could be sized")
    measured, record = _measure_layouts(model, choices, split, sized, passing, keying, limits)
    if not measured:
        failures = "; ".join(c.outcome for c in record if c.outcome.startswith("failed"))
        raise RegistrationError(f"no candidate circuit could be keyed and proven: {failures}")
    keys = measured[0][1]
    for _, other in measured[1:]:
        keys = better(keys, other)
    winner = next(layout for layout, measured_keys in measured if measured_keys is keys)
    candidates = [p.candidate for p in probes] + refused + _marked(record, winner, keys)
    return TunedCircuit(
        keys=keys,
        record=Tuning(
            target=f"{target} on {len(split.check)} "
            + ("held-out calibration samples" if split.held_out else "calibration sample"),
            effort=effort.value,
            seconds=time.monotonic() - started,
            chosen=winner.layout,
            reason=_reason(
                winner,
                keys,
                min(k.cost.seconds for _, k in measured),
                len(measured),
                target,
            ),
            candidates=candidates,
        ),
    )


def _measure_layouts(
    model: SubmittedModel,
    choices: CircuitChoices,
    split: HeldOutSplit,
    sized: list[SizedLayout],
    passing: dict[int, ScaleProbe],
    keying: Keying,
    limits: EffortLimits,
) -> tuple[list[tuple[SizedLayout, MeasuredKeys]], list[TuningCandidate]]:
    """Keys and proves the cheapest-predicted layouts; every sized layout gets a record."""
    cheapest = sized[0].predicted_cost
    measured: list[tuple[SizedLayout, MeasuredKeys]] = []
    record: list[TuningCandidate] = []
    spent = 0.0
    for candidate in sized:
        outcome: str | None = None
        keys: MeasuredKeys | None = None
        if candidate.predicted_cost > PRUNE_FACTOR * cheapest:
            ratio = candidate.predicted_cost / cheapest
            outcome = f"pruned: predicted cost {ratio:.1f}x the cheapest layout's"
        elif len(measured) >= limits.measured_layouts or (
            measured and spent >= limits.measure_seconds
        ):
            outcome = "not measured: the effort's count or time budget was spent"
        else:
            began = time.monotonic()
            keys, outcome = _keyed(model, choices, split, candidate, keying)
            spent += time.monotonic() - began
        if keys is not None:
            _drop_slower_key(measured, keys)
            measured.append((candidate, keys))
        record.append(
            TuningCandidate(
                layout=candidate.layout,
                rows=candidate.rows,
                fidelity=passing[candidate.layout.input_scale].candidate.fidelity,
                prove_seconds=None if keys is None else keys.cost.seconds,
                outcome=outcome or "measured",
            )
        )
    return measured, record


def _drop_slower_key(measured: list[tuple[SizedLayout, MeasuredKeys]], keys: MeasuredKeys) -> None:
    """Proving keys run to gigabytes each (4.6 GB for LeNet-5 at 2^19): of the new key and the
    best so far (by `better`, in measuring order, as the winner is chosen), the other one is
    deleted, so the scratch directory holds one at a time."""
    if not measured:
        return
    best = measured[0][1]
    for _, other in measured[1:]:
        best = better(best, other)
    loser = best if better(best, keys) is keys else keys
    loser.files.proving_key.unlink()


def _keyed(
    model: SubmittedModel,
    choices: CircuitChoices,
    split: HeldOutSplit,
    candidate: SizedLayout,
    keying: Keying,
) -> tuple[MeasuredKeys | None, str | None]:
    """The candidate calibrated on every fit sample (sizing used one), compiled, keyed and
    proven once on calibration sample 0; or why it could not be."""
    files = candidate.files
    label = f"{model.name} ({candidate.files.directory.name})"
    try:
        write_calibration_data(split.fit, files.calibration)
        calibrate_layout(
            model.onnx_path, files.calibration, files.settings, choices, candidate.request
        )
        compile_circuit(label, model.onnx_path, files)
        files.sample_input(0).write_bytes(model.samples.sample_data(0))
        sample_witness(files, 0)
        return key_and_measure(label, files, keying), None
    except (RegistrationError, ProvingError, SrsError) as exc:
        logger.info("tuning %s: %s failed: %s", model.name, files.directory.name, exc)
        return None, f"failed: {exc}"


def _marked(
    record: list[TuningCandidate], winner: SizedLayout, keys: MeasuredKeys
) -> list[TuningCandidate]:
    """The measured candidates' outcomes: the winner, and how much slower each other one was."""
    best = keys.cost.seconds
    marked = []
    for candidate in record:
        if candidate.layout == winner.layout:
            candidate = replace(candidate, outcome="chosen")
        elif candidate.outcome == "measured" and candidate.prove_seconds is not None:
            ratio = candidate.prove_seconds / best
            outcome = (
                f"slower: {ratio:.2f}x the chosen layout"
                if ratio >= 1
                else f"within {NEAR_TIE:.0%} of the chosen layout's time, with more memory"
            )
            candidate = replace(candidate, outcome=outcome)
        marked.append(candidate)
    return marked


def _reason(
    winner: SizedLayout, keys: MeasuredKeys, fastest: float, measured: int, target: FidelityTarget
) -> str:
    layout = winner.layout
    cost = keys.cost
    why = (
        "proved fastest"
        if cost.seconds <= fastest
        else f"proved within {NEAR_TIE:.0%} of the fastest ({fastest:.2f} s) with the least memory"
    )
    return (
        f"scale {layout.input_scale} with decomposition {layout.decomp_base}x"
        f"{layout.decomp_legs} and {layout.num_inner_cols} inner column(s) (2^{layout.logrows} "
        f"rows) {why} ({cost.seconds:.2f} s, {cost.peak_rss_bytes / 2**20:.0f} MiB peak) of "
        f"{measured} measured layout(s) among those meeting {target}"
    )
