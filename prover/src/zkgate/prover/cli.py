"""`zkgate prover`: a standalone prover worker (the flags of `python -m zkgate.prover`)."""

from __future__ import annotations

import os
from typing import Any

from zkgate.prover.worker.process import add_worker_arguments, run_command


def register_commands(commands: Any) -> None:
    parser = commands.add_parser(
        "prover", help="run a prover worker against a data directory (SQLite queue, store)"
    )
    add_worker_arguments(parser, os.environ)
    parser.set_defaults(func=run_command)
