"""Which segments the verifier replays, and the replay itself: the expensive, statistical part.

The first and last segments, the top-Q largest updates per epoch, and segments drawn with the
verifier's own randomness, which is chosen after the owner committed, so a spoofer cannot know
in advance which steps must be honest. Before any segment is judged, the verifier measures its
own replay noise and holds the policy's thresholds to it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict

from zkgate.core.learning.manifest import Manifest
from zkgate.core.learning.policy import ReplayPlan, TrainingPolicy
from zkgate.pol.ceilings import NOISE_SEGMENTS, effective, measure_noise, threshold_problems
from zkgate.pol.checkpoint_reader import CheckpointReader
from zkgate.pol.checkpoints import TrainingState
from zkgate.pol.dataset import Dataset
from zkgate.pol.randomness import HashStream
from zkgate.pol.replay import Discrepancy, measure, replay, update_size
from zkgate.pol.report import LearningReport, SegmentReport, preview
from zkgate.pol.training import TrainingRun, deterministic

_SEGMENT_DOMAIN = "zkgate.pol.replay/1"


def choose_segments(
    policy: TrainingPolicy,
    plan: ReplayPlan,
    sizes: list[float],
    nonce: bytes,
    manifest_digest: str,
) -> dict[int, list[str]]:
    """Segment index -> why it is replayed. Random picks come from segments not already
    chosen, so each adds coverage."""
    count = len(sizes)
    chosen: dict[int, list[str]] = defaultdict(list)
    if not count:
        return chosen
    chosen[0].append("first")
    chosen[count - 1].append("last")
    steps = policy.checkpoint_steps()
    by_epoch: dict[int, list[int]] = defaultdict(list)
    for index in range(count):
        by_epoch[steps[index] // policy.steps_per_epoch].append(index)
    for members in by_epoch.values():
        for index in sorted(members, key=lambda i: -sizes[i])[: plan.top_q]:
            chosen[index].append("top-q")
    stream = HashStream(_SEGMENT_DOMAIN, nonce + bytes.fromhex(manifest_digest))
    remaining = [index for index in range(count) if index not in chosen]
    for index in stream.sample(remaining, plan.random_segments):
        chosen[index].append("random")
    return dict(sorted(chosen.items()))


def replay_segments(
    reader: CheckpointReader,
    manifest: Manifest,
    policy: TrainingPolicy,
    dataset: Dataset,
    chosen: dict[int, list[str]],
    report: LearningReport,
) -> None:
    """Replays each chosen segment against limits no looser than the verifier's own measured
    noise allows, and rejects once per origin whose segments do not reproduce."""
    run = TrainingRun(policy, dataset, manifest.intent.seed())
    own = measure_noise(run, reader.load, list(chosen)[:NOISE_SEGMENTS], report.threads)
    report.measured_noise = own.noise
    report.ceilings = asdict(own.ceilings())
    for problem in threshold_problems(policy.thresholds, policy.calibration, own):
        report.reject(problem)
    limits = effective(policy.thresholds, own)
    failed: dict[str, list[int]] = defaultdict(list)
    with deterministic(report.threads):
        for index, origins in chosen.items():
            start, logged = reader.load(index), reader.load(index + 1)
            gap = measure(start, logged, replay(run, start, logged.step))
            failures = gap.failures(limits)
            report.segments.append(
                _segment_report(policy, index, origins, start, logged, gap, failures)
            )
            report.replayed_steps += logged.step - start.step
            if failures:
                for origin in origins:
                    failed[origin].append(index)
    for origin, indices in failed.items():
        report.reject(
            f"replay of {len(indices)} {origin} segment(s) ({preview(indices)}) does not "
            "reproduce the logged checkpoints within the thresholds (the policy's, none "
            "looser than the verifier's own ceilings)"
        )


def _segment_report(
    policy: TrainingPolicy,
    index: int,
    origins: list[str],
    start: TrainingState,
    logged: TrainingState,
    gap: Discrepancy,
    failures: list[str],
) -> SegmentReport:
    return SegmentReport(
        index=index,
        start_step=start.step,
        end_step=logged.step,
        epoch=start.step // policy.steps_per_epoch,
        origins=origins,
        logged_update_l2=update_size(start, logged),
        l1=_finite(gap.l1),
        l2=_finite(gap.l2),
        linf=_finite(gap.linf),
        cosine=_finite(gap.cosine),
        update_ratio=_finite(gap.update_ratio),
        state_linf=_finite(gap.state_linf),
        passed=not failures,
        failures=failures,
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
