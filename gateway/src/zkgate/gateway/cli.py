"""`zkgate serve`: the gateway plus its embedded prover processes."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from zkgate.gateway.config import add_config_arguments, load_config
from zkgate.gateway.server import serve


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        config = load_config(args)
    except ValueError as exc:
        print(f"zkgate serve: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(config))
    return 0


def register_commands(commands: Any) -> None:
    parser = commands.add_parser(
        "serve", help="run the gateway (and --workers local provers) on embedded defaults"
    )
    add_config_arguments(parser)
    parser.set_defaults(func=cmd_serve)
