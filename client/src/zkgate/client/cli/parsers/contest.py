"""`zkgate contest` and `zkgate check-evidence`'s arguments; the handlers are in
zkgate.client.cli.contest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zkgate.client.cli.arguments import (
    closed_fraction,
    hex_digest,
    output_directory,
    positive_int,
    positive_seconds,
)
from zkgate.client.cli.gateway_options import with_target
from zkgate.client.cli.output import add_json_option
from zkgate.client.cli.trust_arguments import add_gateway_key_argument, add_srs_trust_arguments
from zkgate.core.command_loading import lazy_handler


def add_contest_commands(subparsers: Any) -> None:
    """Register both commands."""
    contest = with_target(
        subparsers.add_parser(
            "contest",
            help="contest a random sample of saved predictions; see docs/protocols.md",
            description="Draws k of the saved predictions with randomness neither side controls, "
            "asks the gateway for their proofs and verifies them. Exit 0: every sampled proof "
            "verified; 1: not; 2: unreadable input.",
        )
    )
    contest.add_argument(
        "predictions", type=Path, nargs="+", help="prediction files from `zkgate infer --save`"
    )
    contest.add_argument("-k", type=positive_int, required=True, help="how many receipts to sample")
    contest.add_argument(
        "--commitment", type=hex_digest, required=True, help="pinned model commitment (hex)"
    )
    contest.add_argument(
        "--deadline-seconds",
        type=positive_seconds,
        default=600.0,
        help="time the gateway has to prove",
    )
    contest.add_argument(
        "--tamper-rate",
        type=closed_fraction,
        default=0.01,
        help="report the chance of catching this fraction of tampered receipts",
    )
    add_srs_trust_arguments(contest)
    contest.add_argument(
        "--evidence-dir",
        type=output_directory("--evidence-dir"),
        default=Path(),
        help="where evidence bundles of refusals and timeouts are written (default: here)",
    )
    add_json_option(contest)
    contest.set_defaults(func=lazy_handler("zkgate.client.cli.contest:run_contest_command"))

    check = subparsers.add_parser(
        "check-evidence",
        help="check a contest evidence bundle against the gateway's key",
        description="Exit 0: the evidence holds; 1: it does not; 2: unreadable input.",
    )
    check.add_argument("bundle", type=Path, help="the evidence file `zkgate contest` wrote")
    add_gateway_key_argument(check)
    add_json_option(check)
    check.set_defaults(func=lazy_handler("zkgate.client.cli.contest:run_check_evidence"))
