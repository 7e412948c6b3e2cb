"""`zkgate verify`'s arguments; the handler is zkgate.client.cli.verify."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from zkgate.client.cli.arguments import hex_digest, non_negative_number
from zkgate.client.cli.output import add_json_option
from zkgate.client.cli.trust_arguments import add_gateway_key_argument, add_srs_trust_arguments
from zkgate.core.command_loading import lazy_handler


def add_verify_command(subparsers: Any) -> None:
    """Register `verify` on an argparse subparsers object; the handler is `args.func`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "verify",
        help="verify a saved prediction and its proof against a pinned model commitment",
        description="Offline check of a prediction (from `zkgate infer --save`) and its proof. "
        "Exit 0: verified; 1: rejected; 2: unreadable input.",
    )
    parser.add_argument("--bundle", type=Path, required=True, help="verifier bundle directory")
    parser.add_argument("--prediction", type=Path, required=True, help="saved prediction JSON")
    parser.add_argument("--proof", type=Path, required=True, help="proof JSON")
    parser.add_argument(
        "--commitment", type=hex_digest, required=True, help="pinned model commitment (hex)"
    )
    parser.add_argument(
        "--batch-entry",
        type=Path,
        help="batch_entry.json saved with a batched proof; needs --batch-commitment and the "
        "batch circuit's bundle (`zkgate models fetch NAME --batch`) (default: none, a single "
        "proof)",
    )
    parser.add_argument(
        "--batch-commitment",
        type=hex_digest,
        help="pinned batch-circuit commitment (hex) (default: none, a single proof)",
    )
    add_gateway_key_argument(parser)
    add_srs_trust_arguments(parser)
    parser.add_argument(
        "--tolerance",
        type=non_negative_number,
        help="max served-vs-proven difference of float outputs (default: each output's own on "
        "the card); integer outputs must always equal the proven ones",
    )
    add_json_option(parser)
    parser.set_defaults(func=lazy_handler("zkgate.client.cli.verify:run_verify"))
