"""Estimates of the time a job still needs, from what was measured: stages passed count
nothing, the current one what is left of it, stages ahead in full; clamped at 0; none once the
job ended or with nothing measured."""

from __future__ import annotations

import dataclasses

import pytest

from zkgate.gateway.job_estimates import measured_stages, registration_seconds_remaining
from zkgate.prover.queue.jobs import Job, JobKind, JobState

NOW = 1_000_000.0
MEASURED = {"calibrating": 10.0, "compiling": 2.0, "measuring_fidelity": 5.0, "keying": 20.0}


def _job(state: JobState = JobState.RUNNING, **fields: object) -> Job:
    job = Job(
        id="j",
        tenant="",
        kind=JobKind.REGISTER,
        state=state,
        model_name="m",
        payload={},
        idempotency_key=None,
        attempts=1,
        max_attempts=2,
        error=None,
        result=None,
        lease_owner="w",
        lease_expires_at=None,
        available_at=NOW,
        created_at=NOW - 100,
        updated_at=NOW,
        started_at=NOW - 30,
    )
    return dataclasses.replace(job, **fields)  # type: ignore[arg-type]


def test_the_current_stage_counts_what_is_left_of_it_and_later_ones_in_full() -> None:
    job = _job(stage="measuring_fidelity", stage_started_at=NOW - 3)
    assert registration_seconds_remaining(job, MEASURED, now=NOW) == pytest.approx(2 + 20)
    overdue = _job(stage="measuring_fidelity", stage_started_at=NOW - 60)
    assert registration_seconds_remaining(overdue, MEASURED, now=NOW) == pytest.approx(20)
    last = _job(stage="keying", stage_started_at=NOW - 60)
    assert registration_seconds_remaining(last, MEASURED, now=NOW) == 0.0


def test_queued_unknown_and_ended_jobs() -> None:
    queued = _job(JobState.QUEUED, started_at=None)
    assert registration_seconds_remaining(queued, MEASURED, now=NOW) == pytest.approx(37)
    # A stage the last registration did not pass: the total less the time since the start.
    tuning = _job(stage="tuning", stage_started_at=NOW - 1)
    assert registration_seconds_remaining(tuning, MEASURED, now=NOW) == pytest.approx(7)
    assert registration_seconds_remaining(_job(), {}, now=NOW) is None
    assert registration_seconds_remaining(_job(JobState.SUCCEEDED), MEASURED, now=NOW) is None


def test_measured_stages_come_back_in_the_order_they_ran() -> None:
    # The result's JSON keeps its keys sorted, and holds only what a prover wrote.
    previous = _job(
        JobState.SUCCEEDED,
        result={
            "commitment": "c",
            "stage_seconds": {"keying": 20, "calibrating": 10.5, "storing": 1, "bogus": 3},
        },
    )
    assert list(measured_stages(previous).items()) == [
        ("calibrating", 10.5),
        ("keying", 20.0),
        ("storing", 1.0),
    ]
    assert measured_stages(None) == {}
    assert measured_stages(_job(JobState.SUCCEEDED, result={"commitment": "c"})) == {}
