"""What a registration asks of its circuit's precision, and the effort spent finding the cheapest
circuit that meets it.

The target is the registrant's: it decides how far the proven outputs may stray from the float
model's. It is checked on held-out calibration samples at registration and stated in the card;
a client's own check is the card's tolerance, which the commitment covers, so nothing here is a
value a verifier has to trust.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

ARGMAX = "argmax"
MAX_ABS = "max-abs"
DEFAULT_ARGMAX_AGREEMENT = 0.99


class TuningEffort(StrEnum):
    """How hard registration searches: `none` keeps ezkl's own calibration (no measured search),
    `fast` measures a few candidates in about a minute on small models, `thorough` more of
    them for longer."""

    NONE = "none"
    FAST = "fast"
    THOROUGH = "thorough"


DEFAULT_EFFORT = TuningEffort.FAST


class FidelityTargetError(ValueError):
    """A fidelity target or effort that cannot be read."""


@dataclass(frozen=True)
class FidelityTarget:
    """`argmax` with the least agreement (0 to 1), or `max-abs` with the largest absolute
    difference between proven and float outputs."""

    kind: str
    threshold: float

    def shortfall(self, *, argmax_agreement: float, max_abs_diff: float) -> str | None:
        """None when the measurement meets the target, else why not, in words."""
        if self.kind == ARGMAX:
            if argmax_agreement >= self.threshold:
                return None
            return f"argmax agreement {argmax_agreement:.2%} < {self.threshold:.2%}"
        if max_abs_diff <= self.threshold:
            return None
        return f"max |diff| {max_abs_diff:.3g} > {self.threshold:.3g}"

    def score(self, *, argmax_agreement: float, max_abs_diff: float) -> float:
        """The measured figure this target reads (agreement or max difference)."""
        return argmax_agreement if self.kind == ARGMAX else max_abs_diff

    def __str__(self) -> str:
        return f"{self.kind}:{self.threshold:g}"


DEFAULT_TARGET = FidelityTarget(ARGMAX, DEFAULT_ARGMAX_AGREEMENT)


def parse_fidelity_target(text: str) -> FidelityTarget:
    """`argmax` (99% agreement), `argmax:0.995`, or `max-abs:EPS`; empty means the default."""
    if not text:
        return DEFAULT_TARGET
    kind, _, value = text.partition(":")
    if kind == ARGMAX and not value:
        return DEFAULT_TARGET
    if kind not in (ARGMAX, MAX_ABS) or not value:
        raise FidelityTargetError(
            f"fidelity target {text[:64]!r}: use 'argmax', 'argmax:AGREEMENT' (e.g. 0.995) or "
            "'max-abs:EPS' (e.g. max-abs:0.01)"
        )
    try:
        threshold = float(value)
    except ValueError:
        threshold = math.nan
    if kind == ARGMAX and not 0 < threshold <= 1:
        raise FidelityTargetError(
            f"fidelity target {text[:64]!r}: argmax agreement must be in (0, 1]"
        )
    if kind == MAX_ABS and not (math.isfinite(threshold) and threshold > 0):
        raise FidelityTargetError(
            f"fidelity target {text[:64]!r}: max-abs needs a positive finite number"
        )
    return FidelityTarget(kind, threshold)


def parse_tuning_effort(text: str) -> TuningEffort:
    if not text:
        return DEFAULT_EFFORT
    try:
        return TuningEffort(text)
    except ValueError:
        choices = ", ".join(effort.value for effort in TuningEffort)
        raise FidelityTargetError(f"tuning {text[:32]!r}: use one of {choices}") from None
