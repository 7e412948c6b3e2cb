"""`zkgate prover ...`: a standalone prover worker (same flags as `python -m zkgate.prover`)."""

from __future__ import annotations

import argparse
from typing import Any

from zkgate.prover.process import main


def register_commands(commands: Any) -> None:
    parser = commands.add_parser(
        "prover",
        help="run a prover worker against a data directory (see `zkgate prover --help`)",
        add_help=False,
    )
    parser.add_argument("worker_args", nargs=argparse.REMAINDER)
    parser.set_defaults(func=lambda args: main(args.worker_args))
