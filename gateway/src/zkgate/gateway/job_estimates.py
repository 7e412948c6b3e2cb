"""How long a job still needs: an estimate from what was measured, never a promise.

A proof's measured cost is its model card's prove_seconds (the batch circuit's for a batched
job): the registration's test proof. A registration's is the stage timings its model's last
successful registration recorded in its job result (job_handlers.py: stage_seconds). Either
way the estimate is the measured total left from the current stage on, less the time spent in
it so far, clamped at 0: stages already passed count nothing, stages ahead count in full. A
queued job's estimate is its own work only; the queue position says how much waits before it.
With nothing measured (a model's first registration) there is no estimate.
"""

from __future__ import annotations

from collections.abc import Mapping

from zkgate.core.card import ModelCard
from zkgate.core.job_stages import JobStage
from zkgate.prover.queue.jobs import Job, JobKind, JobState

# The order a proof passes its stages in; its measured cost covers witness and proving.
_PROOF_STAGES = (JobStage.WITNESS, JobStage.PROVING)


def proof_seconds_remaining(job: Job, card: ModelCard, *, now: float) -> float | None:
    """A prove job's remaining seconds, from the card's measured proof; None once it ended."""
    if job.terminal:
        return None
    batched = job.batch_key is not None and card.batch is not None
    measured = card.batch.prove_seconds if batched and card.batch else card.prove_seconds
    if job.state == JobState.QUEUED or job.started_at is None:
        return measured
    if job.stage and job.stage not in _PROOF_STAGES:
        return 0.0
    return max(measured - (now - job.started_at), 0.0)


def registration_seconds_remaining(
    job: Job, measured: Mapping[str, float], *, now: float
) -> float | None:
    """A register job's remaining seconds from stage timings measured before (stage name to
    seconds, in the order they ran: measured_stages); None once it ended or with nothing
    measured."""
    if job.terminal or not measured:
        return None
    total = sum(measured.values())
    if job.state == JobState.QUEUED or job.started_at is None:
        return total
    stages = list(measured)
    if job.stage not in measured:
        # Before the first report, or a stage the last registration did not pass.
        return max(total - (now - job.started_at), 0.0)
    current = stages.index(job.stage)
    since = job.stage_started_at if job.stage_started_at is not None else job.started_at
    ahead = sum(measured[name] for name in stages[current + 1 :])
    return ahead + max(measured[job.stage] - (now - since), 0.0)


def measured_stages(previous: Job | None) -> dict[str, float]:
    """The stage timings a finished registration recorded (empty: none)."""
    if previous is None or previous.kind != JobKind.REGISTER or not previous.result:
        return {}
    recorded = previous.result.get("stage_seconds")
    if not isinstance(recorded, dict):
        return {}
    # The result's JSON has its keys sorted: put the stages back in the order they ran.
    order = {stage.value: index for index, stage in enumerate(JobStage)}
    known = [
        (name, float(seconds))
        for name, seconds in recorded.items()
        if name in order and isinstance(seconds, int | float)
    ]
    return dict(sorted(known, key=lambda item: order[item[0]]))
