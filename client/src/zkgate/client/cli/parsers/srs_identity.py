"""`zkgate srs-identity`'s arguments; the handler is zkgate.client.cli.srs_identity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zkgate.client.cli.output import add_json_option
from zkgate.core.command_loading import lazy_handler


def add_srs_identity_command(subparsers: Any) -> None:
    srs = subparsers.add_parser(
        "srs-identity",
        help="the identity to trust (--trust-srs) for an SRS file you hold, e.g. a ceremony file",
    )
    srs.add_argument("file", type=Path, help="the SRS file")
    add_json_option(srs)
    srs.set_defaults(func=lazy_handler("zkgate.client.cli.srs_identity:cmd_srs_identity"))
