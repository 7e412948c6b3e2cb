"""The training policy: everything a replay needs to redo a training step, fixed in advance.

A training intent pins the policy's digest before the run starts, and the verifier takes every
hyperparameter from the registered policy, never from the proof. The attack papers' "claim a tiny
learning rate" spoof depends on the opposite.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from zkgate.core.canonical import canonical_json, framed_digest
from zkgate.core.documents import DocumentError, Fields, parse_json, quote
from zkgate.core.learning.layout import (
    MAX_EXAMPLES,
    MAX_LAYERS,
    MAX_PARAMETERS,
    parameter_count,
)

POLICY_FORMAT = "zkgate.core.learning.policy/1"
ARCHITECTURES = ("mlp",)
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "step")
LOSSES = ("cross_entropy",)
DTYPES = ("float32",)


class PolicyError(ValueError):
    """A policy that is malformed or asks for something the recorder cannot do."""


@dataclass(frozen=True)
class Architecture:
    kind: str
    # Layer widths, input first: [64, 16, 10] is 64 -> 16 -> ReLU -> 10.
    sizes: tuple[int, ...]


@dataclass(frozen=True)
class OptimizerSpec:
    kind: str
    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0


@dataclass(frozen=True)
class Schedule:
    kind: str = "constant"
    # For "step": the learning rate is multiplied by gamma every `every_epochs` epochs.
    every_epochs: int = 0
    gamma: float = 1.0


@dataclass(frozen=True)
class ReplayPlan:
    # Segments per epoch with the largest logged updates (Jia et al.'s top-Q).
    top_q: int = 1
    # Segments drawn with verifier randomness chosen after the commitment, so that a spoofer
    # cannot know which of its steps must be honest.
    random_segments: int = 8


@dataclass(frozen=True)
class Thresholds:
    """Largest replay-vs-log discrepancy accepted per segment, and the smallest logged update."""

    l1: float
    l2: float
    linf: float
    # 1 - cos(replayed update, logged update).
    cosine: float
    # |replayed update size / logged update size - 1|.
    update_ratio: float
    # Buffers and optimizer state (momentum): compared too, or a spoofer could fake them.
    state_linf: float
    # Every logged segment update must be at least this large (l2): "infinitesimal update"
    # spoofs move in steps far below what the learning rate makes honest training take.
    min_update_l2: float


@dataclass(frozen=True)
class CalibrationRecord:
    """How the thresholds were obtained, so a reader can judge them."""

    margin: float
    seeds: int
    thread_counts: tuple[int, ...]
    # Largest honest replay discrepancy measured, per metric.
    honest_max: dict[str, float]
    smallest_honest_update_l2: float
    # The scale of the noise floors (zkgate.core.learning.admission.noise_floors).
    median_honest_update_l2: float


@dataclass(frozen=True)
class TrainingPolicy:
    architecture: Architecture
    optimizer: OptimizerSpec
    schedule: Schedule
    batch_size: int
    epochs: int
    checkpoint_interval: int
    dataset_root: str
    dataset_size: int
    thresholds: Thresholds
    replay: ReplayPlan = field(default_factory=ReplayPlan)
    calibration: CalibrationRecord | None = None
    loss: str = "cross_entropy"
    dtype: str = "float32"
    threads: int = 1
    versions: dict[str, str] = field(default_factory=dict)
    format: str = POLICY_FORMAT

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise PolicyError("invalid training policy: " + "; ".join(problems))

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.dataset_size / self.batch_size)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    @property
    def checkpoint_count(self) -> int:
        return math.ceil(self.total_steps / self.checkpoint_interval) + 1

    def checkpoint_steps(self) -> list[int]:
        """Step 0 (the initial state), every k-th step, and the last step."""
        steps = list(range(0, self.total_steps, self.checkpoint_interval))
        return [*steps, self.total_steps]

    def learning_rate(self, step: int) -> float:
        if self.schedule.kind == "step":
            epoch = step // self.steps_per_epoch
            return self.optimizer.lr * self.schedule.gamma ** (epoch // self.schedule.every_epochs)
        return self.optimizer.lr

    def to_json_obj(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_json_obj(), indent=2, sort_keys=True) + "\n"

    def digest(self) -> str:
        return framed_digest(POLICY_FORMAT, [canonical_json(self.to_json_obj())])

    @classmethod
    def from_json_obj(cls, raw: Any, *, what: str = "training policy") -> TrainingPolicy:
        """Every field read by type through the bounded document layer: a policy comes from
        the trainer, and an epoch count of 1.5 or a learning rate of "0.05" must be refused
        here, not crash a replay later."""
        try:
            return _policy(Fields.of(raw, what=what))
        except DocumentError as exc:
            raise PolicyError(str(exc)) from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> TrainingPolicy:
        try:
            raw = parse_json(text, what="training policy")
        except DocumentError as exc:
            raise PolicyError(str(exc)) from exc
        return cls.from_json_obj(raw)

    def with_thresholds(
        self, thresholds: Thresholds, calibration: CalibrationRecord
    ) -> TrainingPolicy:
        return replace(self, thresholds=thresholds, calibration=calibration)


def differences(claimed: TrainingPolicy, registered: TrainingPolicy) -> list[str]:
    """Field-by-field differences, worded for a person: "optimizer.lr: 0.0001 in the proof,
    0.05 registered"."""
    left = _flatten(claimed.to_json_obj())
    right = _flatten(registered.to_json_obj())
    return [
        f"{key}: {left.get(key)!r} in the proof, {right.get(key)!r} registered"
        for key in sorted(left.keys() | right.keys())
        if left.get(key) != right.get(key)
    ]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def _value(fields: Fields, key: str) -> float:
    """A finite number, kept as JSON gave it (1 stays 1, 1.0 stays 1.0) so that the policy
    re-serializes to the bytes its digest was taken over."""
    fields.number(key)
    value: float = fields.raw[key]
    return value


def _thresholds(fields: Fields) -> Thresholds:
    names = [f.name for f in dataclasses.fields(Thresholds)]
    fields.only(*names)
    return Thresholds(**{name: _value(fields, name) for name in names})


def _policy(raw: Fields) -> TrainingPolicy:
    if raw.optional_text("format") != POLICY_FORMAT:
        raise PolicyError(f"not a training policy: format {quote(raw.raw.get('format'))}")
    raw.only(*(f.name for f in dataclasses.fields(TrainingPolicy)))
    arch = raw.object("architecture").only("kind", "sizes")
    opt = raw.object("optimizer").only("kind", "lr", "momentum", "weight_decay")
    schedule = raw.object("schedule").only("kind", "every_epochs", "gamma")
    replay = raw.object("replay").only("top_q", "random_segments")
    calibration = raw.optional_object("calibration")
    return TrainingPolicy(
        architecture=Architecture(kind=arch.text("kind"), sizes=tuple(arch.counts("sizes"))),
        optimizer=OptimizerSpec(
            kind=opt.text("kind"),
            lr=_value(opt, "lr"),
            momentum=_value(opt, "momentum"),
            weight_decay=_value(opt, "weight_decay"),
        ),
        schedule=Schedule(
            kind=schedule.text("kind"),
            every_epochs=schedule.count("every_epochs"),
            gamma=_value(schedule, "gamma"),
        ),
        batch_size=raw.count("batch_size"),
        epochs=raw.count("epochs"),
        checkpoint_interval=raw.count("checkpoint_interval"),
        dataset_root=raw.text("dataset_root"),
        dataset_size=raw.count("dataset_size"),
        thresholds=_thresholds(raw.object("thresholds")),
        replay=ReplayPlan(
            top_q=replay.count("top_q"), random_segments=replay.count("random_segments")
        ),
        calibration=None if calibration is None else _calibration(calibration),
        loss=raw.text("loss"),
        dtype=raw.text("dtype"),
        threads=raw.count("threads"),
        versions=raw.string_map("versions"),
    )


def _calibration(raw: Fields) -> CalibrationRecord:
    raw.only(*(f.name for f in dataclasses.fields(CalibrationRecord)))
    noise = raw.object("honest_max")
    return CalibrationRecord(
        margin=_value(raw, "margin"),
        seeds=raw.count("seeds"),
        thread_counts=tuple(raw.counts("thread_counts")),
        honest_max={key: _value(noise, key) for key in noise.raw},
        smallest_honest_update_l2=_value(raw, "smallest_honest_update_l2"),
        median_honest_update_l2=_value(raw, "median_honest_update_l2"),
    )


def _problems(policy: TrainingPolicy) -> list[str]:
    problems = []
    arch = policy.architecture
    if arch.kind not in ARCHITECTURES:
        problems.append(f"architecture.kind {arch.kind!r} is not one of {ARCHITECTURES}")
    if len(arch.sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in arch.sizes):
        problems.append(f"architecture.sizes {quote(arch.sizes)} needs two or more positive widths")
    elif len(arch.sizes) > MAX_LAYERS or parameter_count(arch.sizes) > MAX_PARAMETERS:
        problems.append(
            f"architecture.sizes {quote(arch.sizes)} has {parameter_count(arch.sizes):,} "
            f"parameters in {len(arch.sizes)} widths; the limits are {MAX_PARAMETERS:,} and "
            f"{MAX_LAYERS}"
        )
    if policy.dataset_size > MAX_EXAMPLES:
        problems.append(f"dataset_size {policy.dataset_size:,} exceeds {MAX_EXAMPLES:,} examples")
    if policy.optimizer.kind not in OPTIMIZERS:
        problems.append(f"optimizer.kind {policy.optimizer.kind!r} is not one of {OPTIMIZERS}")
    if not policy.optimizer.lr > 0:
        problems.append("optimizer.lr must be positive")
    if policy.schedule.kind not in SCHEDULES:
        problems.append(f"schedule.kind {policy.schedule.kind!r} is not one of {SCHEDULES}")
    if policy.schedule.kind == "step" and policy.schedule.every_epochs < 1:
        problems.append("schedule.every_epochs must be at least 1 for a step schedule")
    if policy.loss not in LOSSES:
        problems.append(f"loss {policy.loss!r} is not one of {LOSSES}")
    if policy.dtype not in DTYPES:
        problems.append(f"dtype {policy.dtype!r} is not one of {DTYPES}")
    for name in ("batch_size", "epochs", "checkpoint_interval", "dataset_size", "threads"):
        if getattr(policy, name) < 1:
            problems.append(f"{name} must be at least 1")
    if policy.replay.top_q < 0 or policy.replay.random_segments < 0:
        problems.append("replay counts must not be negative")
    if any(not value >= 0 for value in asdict(policy.thresholds).values()):
        problems.append("thresholds must be non-negative numbers")
    return problems
