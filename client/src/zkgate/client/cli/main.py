"""The `zkgate` command.

zkgate-client owns the command and its client-side subcommands; zkgate-gateway and
zkgate-prover add theirs (`serve`, `prover`) through the `zkgate.cli` entry-point group, so a
verifier-only install has a working `zkgate verify` and nothing that needs onnxruntime.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from zkgate.client.cli.accuracy import add_accuracy_commands
from zkgate.client.cli.contest import add_contest_commands
from zkgate.client.cli.error_reporting import run_guarded
from zkgate.client.cli.exit_codes import EXIT_BAD_INPUT
from zkgate.client.cli.infer import add_infer_command
from zkgate.client.cli.models import add_models_commands
from zkgate.client.cli.retrieval import add_retrieval_commands
from zkgate.client.cli.srs_identity import add_srs_identity_command
from zkgate.client.cli.verify import add_verify_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zkgate", description=__doc__.split("\n")[0] if __doc__ else None
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)
    add_infer_command(commands)
    add_verify_command(commands)
    add_contest_commands(commands)
    add_accuracy_commands(commands)
    add_retrieval_commands(commands)
    add_models_commands(commands)
    add_srs_identity_command(commands)
    for plugin in entry_points(group="zkgate.cli"):
        plugin.load()(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 on success, 1 when a check rejects what it was given (or the gateway refuses), 2
    when the input could not be read at all; never a traceback, unless ZKGATE_DEBUG=1 asks for
    one."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed its message (or the help)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # ezkl narrates every step at INFO through Python logging; the CLI prints its own lines.
        logging.getLogger("ezkl").setLevel(logging.WARNING)
    return run_guarded(lambda: int(args.func(args)), _command_name(args))


def _command_name(args: argparse.Namespace) -> str:
    sub = getattr(args, "models_command", None)
    return " ".join(["zkgate", args.command, *([sub] if sub else [])])


if __name__ == "__main__":
    sys.exit(main())
