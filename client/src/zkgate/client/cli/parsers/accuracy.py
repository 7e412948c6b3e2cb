"""`zkgate evaluate` and `zkgate verify-accuracy`'s arguments; the handlers are in
zkgate.client.cli.accuracy."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from zkgate.client.cli.arguments import hex_digest, open_fraction, output_file, positive_int
from zkgate.client.cli.gateway_options import with_target
from zkgate.client.cli.output import add_json_option
from zkgate.client.cli.trust_arguments import add_gateway_key_argument, add_srs_trust_arguments
from zkgate.core.command_loading import lazy_handler
from zkgate.core.protocols.limits import DEFAULT_DELTA, DEFAULT_EPSILON


def add_accuracy_commands(subparsers: Any) -> None:
    """Register both commands."""
    evaluate = with_target(
        subparsers.add_parser(
            "evaluate",
            help="certify a model's accuracy on your test set; see docs/protocols.md",
            description="Commits to the test set, has the gateway sign the model commitment it "
            "serves, reveals the set and waits for the proofs of a sample neither side chose. "
            "Writes the certificate and verifies it. Exit 0: verified; 1: refused or rejected; "
            "2: unreadable input.",
        )
    )
    evaluate.add_argument("model", help="the model's name")
    _add_test_set_arguments(evaluate)
    evaluate.add_argument(
        "--epsilon",
        type=open_fraction,
        default=DEFAULT_EPSILON,
        help="how far below the measured accuracy the certified bound may lie",
    )
    evaluate.add_argument(
        "--delta",
        type=open_fraction,
        default=DEFAULT_DELTA,
        help="the probability that the certified bound is wrong",
    )
    evaluate.add_argument(
        "--sample-size",
        type=positive_int,
        help="examples to prove (default: Hoeffding's n for eps, delta)",
    )
    evaluate.add_argument(
        "--out",
        type=output_file("--out"),
        required=True,
        help="where the certificate goes (checked before any proving)",
    )
    add_json_option(evaluate)
    evaluate.set_defaults(func=lazy_handler("zkgate.client.cli.accuracy:run_evaluate"))

    check = subparsers.add_parser(
        "verify-accuracy",
        help="check an accuracy certificate against your test set, offline",
        description="Exit 0: verified; 1: rejected; 2: unreadable input.",
    )
    check.add_argument("certificate", type=Path, help="the certificate `zkgate evaluate` wrote")
    _add_test_set_arguments(check)
    check.add_argument("--bundle", type=Path, required=True, help="the batch circuit's bundle")
    add_gateway_key_argument(check)
    add_json_option(check)
    check.set_defaults(func=lazy_handler("zkgate.client.cli.accuracy:run_verify_accuracy"))


def _add_test_set_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--examples", type=Path, required=True, help=".npy float32 (N, *input)")
    parser.add_argument("--labels", type=Path, required=True, help=".npy integer labels (N,)")
    parser.add_argument(
        "--commitment", type=hex_digest, required=True, help="pinned model commitment (hex)"
    )
    parser.add_argument(
        "--batch-commitment",
        type=hex_digest,
        required=True,
        help="pinned batch-circuit commitment (hex)",
    )
    add_srs_trust_arguments(parser)
