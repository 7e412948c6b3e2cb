"""The progress a waiting command shows: plain lines when stderr is not a terminal, a live
rich line on one (ending in the job's last state), nothing with --quiet."""

from __future__ import annotations

import io

from zkgate.client.cli.job_progress import job_line, progress_display
from zkgate.wire import zkgate_pb2 as pb

NOW = 1_000_000.0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _updates() -> list[pb.Job]:
    common = {"job_id": "j1", "kind": pb.JOB_KIND_REGISTER, "model_name": "digits"}
    return [
        pb.Job(**common, state=pb.JOB_STATE_QUEUED, queue_position=2),
        pb.Job(
            **common,
            state=pb.JOB_STATE_RUNNING,
            stage="measuring_fidelity",
            started_at=NOW - 70,
            stage_started_at=NOW - 65,
            estimated_seconds_remaining=12.4,
        ),
        pb.Job(**common, state=pb.JOB_STATE_FAILED, stage="keying", error="[bad] model"),
    ]


def test_lines_name_the_position_stage_clock_and_estimate() -> None:
    queued, running, failed = _updates()
    assert job_line(queued, NOW) == "job j1 register digits: queued, position 2"
    assert job_line(running, NOW, received_at=NOW - 2) == (
        "job j1 register digits: measuring fidelity for 1:05, about 0:10 left (estimate)"
    )
    assert job_line(failed, NOW) == "job j1 register digits: failed: [bad] model"


def test_piped_output_is_one_line_per_update_and_quiet_is_silent() -> None:
    piped = io.StringIO()
    with progress_display(quiet=False, stream=piped) as show:
        for job in _updates():
            show(job)
    lines = piped.getvalue().splitlines()
    assert len(lines) == 3
    assert "measuring fidelity" in lines[1] and lines[2].endswith("failed: [bad] model")

    silent = _Terminal()
    with progress_display(quiet=True, stream=silent) as show:
        for job in _updates():
            show(job)
    assert silent.getvalue() == ""


def test_a_terminal_gets_a_live_line_that_ends_in_the_last_state() -> None:
    terminal = _Terminal()
    with progress_display(quiet=False, stream=terminal) as show:
        for job in _updates():
            show(job)
    # Brackets in the error are shown as they are, not read as rich markup.
    assert terminal.getvalue().rstrip().endswith("job j1 register digits: failed: [bad] model")
