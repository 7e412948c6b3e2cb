"""`zkgate infer`'s arguments; the handler is zkgate.client.cli.infer."""

from __future__ import annotations

from typing import Any

from zkgate.client.cli.arguments import hex_digest, output_directory
from zkgate.client.cli.gateway_options import with_target
from zkgate.client.cli.output import add_json_option
from zkgate.client.cli.parsers.jobs import add_quiet_option
from zkgate.client.cli.trust_arguments import add_srs_trust_arguments
from zkgate.core.command_loading import lazy_handler


def add_infer_command(subparsers: Any) -> None:
    infer = with_target(subparsers.add_parser("infer", help="run a prediction on the gateway"))
    infer.add_argument("model", help="the model's name")
    infer.add_argument(
        "--input",
        action="append",
        required=True,
        metavar="[NAME=]FILE",
        help=".npy or JSON array; repeat as NAME=FILE for several inputs",
    )
    infer.add_argument("--prove", action="store_true", help="enqueue a proof of this prediction")
    infer.add_argument("--wait", action="store_true", help="wait for the proof")
    infer.add_argument("--verify", action="store_true", help="wait for the proof and verify it")
    add_quiet_option(infer)
    infer.add_argument(
        "--commitment",
        type=hex_digest,
        help="the model commitment you pinned (hex; default: the card's own, trusted on first use)",
    )
    infer.add_argument(
        "--batch-commitment",
        type=hex_digest,
        help="the batch circuit's commitment you pinned (hex), for models proven in batches "
        "(default: the card's own, trusted on first use)",
    )
    add_srs_trust_arguments(infer)
    infer.add_argument(
        "--save",
        type=output_directory("--save"),
        metavar="DIR",
        help="write prediction.json (and proof.json, bundle/, batch_entry.json for a batched "
        "proof, after --wait) (default: save nothing)",
    )
    add_json_option(infer)
    infer.set_defaults(func=lazy_handler("zkgate.client.cli.infer:cmd_infer"))
