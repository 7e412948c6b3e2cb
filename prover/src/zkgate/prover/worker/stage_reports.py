"""A running job's stages, written to its row as they begin, from the process doing the work.

Jobs run in a child process (isolation.py); the child opens its own connection to the shared
database, so a stage reaches the row (and a watching client) the moment it begins, with no pipe
through the worker. Each report is written as the worker that holds the job, so a job that was
cancelled or taken over refuses it with LeaseLost, which stops the work at that stage boundary.

The reports also time the stages: a registration's result keeps the seconds each took, which
is what the gateway estimates the next registration of the model from.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

from zkgate.core.job_stages import JobStage
from zkgate.prover.queue.jobs import Job, JobQueue, LeaseLost


class StageReports:
    """A StageReporter (circuits/stage_timing.py) for a job, or for a batch of jobs proven
    together: every job of the batch is at the stage of the one proof, and the batch goes on
    while any of its jobs is still held (a cancelled one's outcome is dropped at the end)."""

    def __init__(self, queue: JobQueue, jobs: Sequence[Job]) -> None:
        self._queue = queue
        self._jobs = list(jobs)
        self._started: list[tuple[JobStage, float]] = []

    def __call__(self, reached: JobStage) -> None:
        self._started.append((reached, time.monotonic()))
        held = 0
        for job in self._jobs:
            with contextlib.suppress(LeaseLost):
                self._queue.report_stage(job.id, job.lease_owner or "", reached)
                held += 1
        if not held:
            raise LeaseLost(
                f"job {', '.join(job.id for job in self._jobs)} was cancelled or taken over"
            )

    def seconds(self) -> dict[str, float]:
        """How long each stage reported so far took, up to now; a stage entered twice adds up."""
        ends = [started for _, started in self._started[1:]] + [time.monotonic()]
        taken: dict[str, float] = {}
        for (reached, started), ended in zip(self._started, ends, strict=True):
            taken[reached.value] = round(taken.get(reached.value, 0.0) + ended - started, 3)
        return taken
