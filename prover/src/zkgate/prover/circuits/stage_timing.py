"""How long each stage of building or proving a circuit took, logged, and the stage a job is
in, reported to whoever runs it.

Logged timings are the first thing to read when a registration is slow, since calibration,
setup and fidelity each dominate for some model. Reports let a user watching the job see the
same stages live: the caller (the prover's job handler) hands a reporter to reporting_stages,
and every stage() entered under it is reported, so this package needs no queue or database.
Only outermost stages are reported: the tuner keys and proves its candidates, and the keying
and test proof inside it are part of tuning, not stages of their own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from zkgate.core.job_stages import JobStage

logger = logging.getLogger("zkgate.prover.circuits.registration")

# Told each stage as it begins; may raise to stop the work (a cancelled job).
StageReporter = Callable[[JobStage], None]

_reporter: ContextVar[StageReporter | None] = ContextVar("stage_reporter", default=None)
_inside_stage: ContextVar[bool] = ContextVar("inside_stage", default=False)


@contextmanager
def timed(model: str, phase: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    logger.info("registering %s: %s took %.2f s", model, phase, time.monotonic() - started)


@contextmanager
def reporting_stages(reporter: StageReporter | None) -> Iterator[None]:
    """Reports the stages entered within to reporter (None: to no one)."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)


@contextmanager
def stage(model: str, name: JobStage) -> Iterator[None]:
    """A stage of a job: reported as it begins, unless it runs inside another, and timed."""
    reporter = _reporter.get()
    if reporter is not None and not _inside_stage.get():
        reporter(name)
    token = _inside_stage.set(True)
    try:
        with timed(model, name.label):
            yield
    finally:
        _inside_stage.reset(token)
