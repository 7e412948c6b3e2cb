"""The layouts tuning looks at for one scale: decompositions times column counts, each sized by
ezkl and ranked by a predicted cost, so that only the promising few are keyed and measured.

Rows alone mislead. On a 28x28 CNN (FACTS.md) 16 columns at 2^12 rows proved 3.8 times slower
than 2 columns at 2^14: every column is committed over the whole domain, and so are the
selectors, permutation and lookup columns every row carries, worth about one more column.
Measured there, ranking by 2^logrows x (columns + 1) put the five layouts in nearly their
measured order, and it prefers the smaller domain where costs tie, which also needs less memory.
The ranking only prunes: the winner is chosen by measured prove time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zkgate.core.card import CircuitLayout, TuningCandidate
from zkgate.core.fidelity_target import TuningEffort
from zkgate.prover.circuits.calibration import (
    CircuitChoices,
    LayoutRequest,
    calibrate_layout,
    settings_size,
)
from zkgate.prover.circuits.circuit_files import CircuitFiles
from zkgate.prover.circuits.registration_checks import RegistrationError
from zkgate.prover.circuits.submitted_model import SubmittedModel

# Columns per row that every layout carries besides its inner columns (see above).
FIXED_COLUMN_COST = 1
# A candidate predicted to cost more than this many times the cheapest is not measured.
PRUNE_FACTOR = 2.0

# (decomp_base, decomp_legs): ranges of 2^20 and more. A smaller base shrinks the range-check
# table (2^14 rows for ezkl's default), which is the floor of small circuits; more legs cost
# rows per range check.
_DECOMPOSITIONS = {
    TuningEffort.FAST: ((16384, 2), (1024, 3), (1024, 2)),
    TuningEffort.THOROUGH: ((16384, 2), (4096, 2), (1024, 3), (1024, 2), (256, 4), (256, 3)),
}
_COLUMNS = {TuningEffort.FAST: (1, 2, 4), TuningEffort.THOROUGH: (1, 2, 4, 8, 16)}


@dataclass(frozen=True)
class SizedLayout:
    """A layout ezkl sized (calibrated on one sample: rows do not depend on the values), in its
    own directory."""

    request: LayoutRequest
    layout: CircuitLayout
    rows: int
    files: CircuitFiles

    @property
    def predicted_cost(self) -> float:
        return float(2**self.layout.logrows * (self.layout.num_inner_cols + FIXED_COLUMN_COST))


def sized_layouts(
    model: SubmittedModel,
    choices: CircuitChoices,
    scales: list[int],
    effort: TuningEffort,
    sizing_data: Path,
) -> tuple[list[SizedLayout], list[TuningCandidate]]:
    """The layouts at these scales that fit under the logrows cap, cheapest predicted first (at
    equal cost, the higher scale first), and a record of those that did not fit. A layout whose
    size another scale already gives is kept at the higher scale only: the same rows and
    columns cost the same to prove, and the higher scale is more faithful."""
    sized: dict[tuple[int, int, int, int], SizedLayout] = {}
    refused: list[TuningCandidate] = []
    for scale in sorted(scales, reverse=True):
        for base, legs in _DECOMPOSITIONS[effort]:
            for columns in _COLUMNS[effort]:
                request = LayoutRequest(base, legs, columns, scales=(scale, 1))
                tag = f"layout-s{scale}-{base}x{legs}-c{columns}"
                files = model.candidate_files(tag)
                try:
                    calibrate_layout(model.onnx_path, sizing_data, files.settings, choices, request)
                except RegistrationError as exc:
                    refused.append(TuningCandidate(layout_of(request, 0), 0, None, None, str(exc)))
                    continue
                logrows, rows = settings_size(files.settings)
                layout = layout_of(request, logrows)
                shape = (base, legs, columns, logrows)
                sized.setdefault(shape, SizedLayout(request, layout, rows, files))
    ranked = sorted(sized.values(), key=lambda c: (c.predicted_cost, -c.layout.input_scale))
    return ranked, refused


def layout_of(request: LayoutRequest, logrows: int) -> CircuitLayout:
    assert request.scales is not None
    scale, multiplier = request.scales
    return CircuitLayout(
        input_scale=scale,
        param_scale=scale,
        scale_rebase_multiplier=multiplier,
        decomp_base=request.decomp_base,
        decomp_legs=request.decomp_legs,
        num_inner_cols=request.num_inner_cols,
        logrows=logrows,
    )
