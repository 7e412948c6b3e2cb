"""`zkgate prover`: a standalone prover worker (the flags of `python -m zkgate.prover`).

Registered with every `zkgate` run, so it imports nothing of the prover's (ezkl, onnxruntime)
until `prover` is the command (zkgate.core.command_loading).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from zkgate.core.command_loading import defer_arguments, lazy_handler


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from zkgate.prover.worker.process import add_worker_arguments

    add_worker_arguments(parser, os.environ)


def register_commands(commands: Any) -> None:
    parser = commands.add_parser(
        "prover", help="run a prover worker against a data directory (SQLite queue, store)"
    )
    defer_arguments(parser, "zkgate.prover.cli:add_arguments")
    parser.set_defaults(func=lazy_handler("zkgate.prover.worker.process:run_command"))
