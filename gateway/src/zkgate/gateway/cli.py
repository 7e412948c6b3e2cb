"""`zkgate serve`: the gateway plus its embedded prover processes.

Registered with every `zkgate` run, so it imports nothing of the gateway's until `serve` is the
command: its arguments are deferred and the server is imported by the handler
(zkgate.core.command_loading).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from zkgate.core.command_loading import defer_arguments


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio

    from zkgate.gateway.config import load_config
    from zkgate.gateway.server import serve

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
    defer_arguments(parser, "zkgate.gateway.config:add_config_arguments")
    parser.set_defaults(func=cmd_serve)
