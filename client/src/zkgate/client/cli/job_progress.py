"""How a command shows a job it waits for (`models add`, `infer --wait/--verify`,
`jobs watch`): on a terminal, one live line (rich) with the stage, the time spent in it and the
gateway's estimate of what is left; piped, one plain line per change; under --quiet, nothing.

Progress goes to stderr, so stdout keeps the command's results (and --json's one document).
rich is imported only when a terminal display starts: the CLI's start-up does not pay for it.
The estimate is the gateway's, made from the model's measured figures; between updates it is
counted down here, and it is never a promise.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from zkgate.wire import zkgate_pb2 as pb

if TYPE_CHECKING:
    from zkgate.client.proof_jobs import ProofCalls

ShowJob = Callable[[pb.Job], None]


def follow_job(
    client: ProofCalls, job_id: str, *, timeout: float, quiet: bool, stream: TextIO | None = None
) -> pb.Job:
    """Waits for the job to succeed (ProofJobFailed otherwise), showing its progress."""
    with progress_display(quiet=quiet, stream=stream) as show:
        return client.wait_for_job(job_id, timeout=timeout, on_update=show)


@contextmanager
def progress_display(*, quiet: bool, stream: TextIO | None = None) -> Iterator[ShowJob]:
    """A function to hand each job update to: a live line on a terminal, plain lines when
    stream (stderr by default) is not one, nothing when quiet."""
    out = sys.stderr if stream is None else stream
    if quiet:
        yield lambda job: None
    elif out.isatty():
        with _TerminalProgress(out) as terminal:
            yield terminal.show
    else:
        yield lambda job: print(job_line(job, time.time()), file=out, flush=True)


def kind_name(job: pb.Job) -> str:
    return pb.JobKind.Name(job.kind).removeprefix("JOB_KIND_").lower()


def state_name(job: pb.Job) -> str:
    return pb.JobState.Name(job.state).removeprefix("JOB_STATE_").lower()


def stage_label(job: pb.Job) -> str:
    return job.stage.replace("_", " ")


def job_line(job: pb.Job, now: float, *, received_at: float | None = None) -> str:
    """One line on the job: `job ID register digits: measuring fidelity for 0:04, about 12 s
    left`. received_at: when the update arrived, to count the estimate down since."""
    head = f"job {job.job_id} {kind_name(job)} {job.model_name}:"
    if job.state == pb.JOB_STATE_QUEUED:
        what = f"queued, position {job.queue_position}" if job.queue_position else "queued"
    elif job.state == pb.JOB_STATE_RUNNING:
        what = stage_label(job) or "started"
        since = job.stage_started_at or job.started_at
        if since:
            what += f" for {_clock(now - since)}"
    else:
        what = state_name(job) + (f": {job.error}" if job.error else "")
        return f"{head} {what}"
    if job.HasField("estimated_seconds_remaining"):
        left = job.estimated_seconds_remaining - (now - (received_at or now))
        what += f", about {_clock(left)} left (estimate)"
    if job.attempts > 1:
        what += f" (attempt {job.attempts})"
    return f"{head} {what}"


def _clock(seconds: float) -> str:
    whole = max(int(seconds), 0)
    return f"{whole // 60}:{whole % 60:02d}"


class _TerminalProgress:
    """A spinner and job_line, redrawn a few times a second so the clocks tick between
    updates; the last line is printed for good when the job ends."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.spinner import Spinner
        from rich.text import Text

        # Text, not a str: rich would read brackets in an error message as markup.
        self._text = Text
        self._console = Console(file=stream)
        self._spinner = Spinner("dots", text="waiting for the gateway")
        self._job: pb.Job | None = None
        self._received_at = time.time()
        self._live = Live(self, console=self._console, refresh_per_second=4, transient=True)

    def show(self, job: pb.Job) -> None:
        self._job, self._received_at = job, time.time()
        self._live.refresh()

    def __rich__(self) -> Any:
        if self._job is not None:
            self._spinner.update(text=self._text(self._line()))
        return self._spinner

    def _line(self) -> str:
        assert self._job is not None
        return job_line(self._job, time.time(), received_at=self._received_at)

    def __enter__(self) -> _TerminalProgress:
        self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._live.stop()
        if self._job is not None:
            self._console.print(self._line(), markup=False, highlight=False)
