"""The `zkgate` command.

zkgate-client owns the command and its client-side subcommands; zkgate-gateway, zkgate-prover
and zkgate-pol add theirs (`serve`, `prover`, `pol`) through the `zkgate.cli` entry-point group,
so a verifier-only install has a working `zkgate verify` and nothing that needs onnxruntime.

Building the parser imports no handler (see zkgate.core.command_loading): `zkgate --help` and
`zkgate verify --help` start as fast on a full install, torch and all, as on the light client.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from zkgate.client.cli.command_parser import CommandParser
from zkgate.client.cli.exit_codes import EXIT_BAD_INPUT
from zkgate.client.cli.output import CommandOutput, add_json_option, output_of
from zkgate.client.cli.parsers.accuracy import add_accuracy_commands
from zkgate.client.cli.parsers.completion import add_completion_command
from zkgate.client.cli.parsers.contest import add_contest_commands
from zkgate.client.cli.parsers.infer import add_infer_command
from zkgate.client.cli.parsers.jobs import add_jobs_commands
from zkgate.client.cli.parsers.models import add_models_commands
from zkgate.client.cli.parsers.retrieval import add_retrieval_commands
from zkgate.client.cli.parsers.srs_identity import add_srs_identity_command
from zkgate.client.cli.parsers.verify import add_verify_command
from zkgate.client.cli.version import VersionAction

# Loggers of libraries that narrate at INFO or WARNING (ezkl's "Using 5 columns for
# non-linearity table"): the CLI prints its own lines, and theirs only under --verbose.
QUIET_LIBRARY_LOGGERS = ("ezkl", "ezkl_lib", "halo2_proofs", "tract_core", "tract_onnx")


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="zkgate", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="debug logging, libraries' own messages (ezkl's) included",
    )
    parser.add_argument("--version", action=VersionAction)
    add_json_option(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_infer_command(commands)
    add_verify_command(commands)
    add_contest_commands(commands)
    add_accuracy_commands(commands)
    add_retrieval_commands(commands)
    add_models_commands(commands)
    add_jobs_commands(commands)
    add_srs_identity_command(commands)
    add_completion_command(commands)
    for plugin in entry_points(group="zkgate.cli"):
        plugin.load()(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 on success, 1 when a check rejects what it was given (or the gateway refuses), 2
    when the input could not be read at all; never a traceback, unless ZKGATE_DEBUG=1 asks for
    one. Under --json, stdout carries exactly one JSON document, whatever the outcome."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exc:  # argparse has printed its message (or the help)
        code = exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
        if code and "--json" in arguments:
            # A usage error under --json: the document still comes, the message is on stderr.
            output = CommandOutput(json_mode=True)
            output.set(errors=["the arguments were refused: see the usage message on stderr"])
            return output.finish(code)
        return code
    _configure_logging(args.verbose)
    # Imported once a command runs: it catches grpc's errors, and `--help` needs no grpc.
    from zkgate.client.cli.error_reporting import run_guarded

    output = output_of(args)
    code = run_guarded(lambda: int(args.func(args)), _command_name(args), report=output.error)
    return output.finish(code)


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        for name in QUIET_LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)


def _command_name(args: argparse.Namespace) -> str:
    words = ["zkgate", args.command]
    for attribute in ("models_command", "datasets_command", "pol_command", "jobs_command"):
        if sub := getattr(args, attribute, None):
            words.append(sub)
    return " ".join(words)


if __name__ == "__main__":
    sys.exit(main())
