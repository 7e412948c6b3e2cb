"""`zkgate jobs ...`'s arguments; the handlers are in zkgate.client.cli.jobs."""

from __future__ import annotations

import argparse
from typing import Any

from zkgate.client.cli.arguments import non_negative_int
from zkgate.client.cli.gateway_options import gateway_subcommand

_HANDLERS = "zkgate.client.cli.jobs"
# As the gateway names them (zkgate.v1.JobState and JobKind, lower case, without prefix).
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
JOB_KINDS = ("register", "prove")


def add_quiet_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """--quiet for a command that shows a job's progress while it waits (job_progress.py)."""
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="show no progress while waiting for the job (default: a live line on a "
        "terminal, one line per change otherwise, on stderr)",
    )
    return parser


def add_jobs_commands(subparsers: Any) -> None:
    jobs = subparsers.add_parser(
        "jobs", help="list, follow and cancel your registration and proof jobs"
    ).add_subparsers(dest="jobs_command", required=True, metavar="COMMAND")
    listing = gateway_subcommand(
        jobs, "list", f"{_HANDLERS}:cmd_jobs_list", help="list your jobs, newest first"
    )
    listing.add_argument(
        "--state",
        action="append",
        choices=JOB_STATES,
        help="only jobs in this state; repeat for several (default: any)",
    )
    listing.add_argument("--model", default="", help="only jobs of this model (default: any)")
    listing.add_argument("--kind", choices=JOB_KINDS, help="only jobs of this kind (default: any)")
    listing.add_argument(
        "--limit",
        type=non_negative_int,
        default=50,
        help="at most this many jobs per page, up to 500 (default: %(default)s)",
    )
    listing.add_argument(
        "--page-token",
        default="",
        help="the token a previous page printed, for the page after it (default: the first)",
    )
    show = gateway_subcommand(
        jobs, "show", f"{_HANDLERS}:cmd_jobs_show", help="print a job's state and progress"
    )
    show.add_argument("job_id", help="the job's id (as `models add`, `infer` or `jobs list` show)")
    watch = gateway_subcommand(
        jobs, "watch", f"{_HANDLERS}:cmd_jobs_watch", help="follow a job's progress until it ends"
    )
    watch.add_argument("job_id", help="the job's id")
    add_quiet_option(watch)
    cancel = gateway_subcommand(
        jobs,
        "cancel",
        f"{_HANDLERS}:cmd_jobs_cancel",
        help="cancel a job: a queued one at once, a running one by stopping its prover",
    )
    cancel.add_argument("job_id", help="the job's id")
