"""`zkgate models ...`'s arguments; the handlers are in zkgate.client.cli.models."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from zkgate.client.cli.arguments import calibration_file, non_negative_int, output_directory
from zkgate.client.cli.gateway_options import gateway_subcommand
from zkgate.client.cli.parsers.jobs import add_quiet_option
from zkgate.core.fidelity_target import (
    DEFAULT_EFFORT,
    DEFAULT_TARGET,
    FidelityTargetError,
    TuningEffort,
    parse_fidelity_target,
)

_HANDLERS = "zkgate.client.cli.models"


def add_models_commands(subparsers: Any) -> None:
    models = subparsers.add_parser("models", help="register and inspect models").add_subparsers(
        dest="models_command", required=True
    )
    _add_register_command(models)
    gateway_subcommand(
        models,
        "list",
        f"{_HANDLERS}:cmd_models_list",
        help="list models, their versions and defaults",
    )
    show = gateway_subcommand(
        models, "show", f"{_HANDLERS}:cmd_models_show", help="print a model's card"
    )
    show.add_argument("name", help="the model's name")
    _add_version_option(show)
    fetch = gateway_subcommand(
        models,
        "fetch",
        f"{_HANDLERS}:cmd_models_fetch",
        help="save a verifier bundle for offline use",
    )
    fetch.add_argument("name", help="the model's name")
    _add_version_option(fetch)
    fetch.add_argument(
        "--out",
        type=output_directory("--out"),
        required=True,
        metavar="DIR",
        help="directory to write the bundle and gateway.key into (created if missing)",
    )
    fetch.add_argument(
        "--batch",
        action="store_true",
        help="the batch circuit's bundle (for batched proofs and accuracy certificates)",
    )
    remove = gateway_subcommand(
        models,
        "remove",
        f"{_HANDLERS}:cmd_models_remove",
        help="remove a model or one version, and delete what nothing else uses",
    )
    remove.add_argument("name", help="the model's name")
    _add_version_option(remove, "the version to remove (default: every version)")
    default = gateway_subcommand(
        models,
        "default",
        f"{_HANDLERS}:cmd_models_default",
        help="choose the version served when a request names none",
    )
    default.add_argument("name", help="the model's name")
    default.add_argument("version", help="a version number (as `models list` shows) or commitment")
    gateway_subcommand(
        models,
        "sync",
        f"{_HANDLERS}:cmd_models_sync",
        help="register what is new or changed in the gateway's model repository",
    )


def _add_version_option(
    parser: argparse.ArgumentParser,
    help_text: str = "a version number or commitment (default: the default version)",
) -> None:
    parser.add_argument("--version", default="", metavar="V", help=help_text)


def _add_register_command(models: Any) -> None:
    add = gateway_subcommand(
        models,
        "add",
        f"{_HANDLERS}:cmd_models_add",
        help="register an ONNX model (runs on a prover)",
    )
    add.add_argument("name", help="the name to register the model under")
    add.add_argument("onnx", type=Path, help="the ONNX model file")
    add.add_argument(
        "--calibration",
        type=calibration_file,
        required=True,
        help="samples stacked on axis 0: .npy for a model with one input, or .npz with one "
        "array per input name (numpy.savez(FILE, NAME=samples, ...))",
    )
    _add_circuit_options(add)
    add.add_argument(
        "--proof-of-learning",
        type=Path,
        metavar="FILE",
        help="archive from `zkgate pol record --archive`; a prover verifies it against the model "
        "(default: none)",
    )
    add.add_argument("--no-wait", action="store_true", help="return once the job is queued")


def _add_circuit_options(add: argparse.ArgumentParser) -> None:
    """How the model's circuit is built and proven: SRS, policy, size, batching, fidelity."""
    add.add_argument(
        "--srs",
        type=Path,
        help="ceremony SRS file, at this path on the prover nodes too (default: the gateway's "
        "choice, a development SRS unless it is configured with one)",
    )
    add.add_argument(
        "--srs-sha256", default="", help="SHA-256 pin of --srs (default: hash the local file)"
    )
    add.add_argument(
        "--policy",
        choices=["on_request", "always", "never"],
        default="",
        help="when predictions are proven: on_request (with --prove), always, or never "
        "(default: the gateway's configured policy)",
    )
    add.add_argument(
        "--max-logrows",
        type=non_negative_int,
        default=0,
        help="refuse a circuit needing more than 2^N rows, which bounds proving memory and time "
        "(default: 0, the gateway's limit)",
    )
    add.add_argument(
        "--batch-size",
        type=non_negative_int,
        default=0,
        help="also build a circuit over this many requests, proven together with hashed "
        "inputs and outputs (cross-request batching; default: 0, none; 1 is none too)",
    )
    add.add_argument(
        "--fidelity",
        type=fidelity_target,
        default=str(DEFAULT_TARGET),
        help="what the circuit must keep of the float model on held-out calibration samples: "
        "'argmax' (99%% agreement), 'argmax:AGREEMENT' or 'max-abs:EPS' (default: %(default)s)",
    )
    add.add_argument(
        "--tuning",
        choices=[effort.value for effort in TuningEffort],
        default=DEFAULT_EFFORT.value,
        help="how hard to search for the fastest circuit meeting --fidelity; 'none' keeps "
        "ezkl's own calibration (default: %(default)s)",
    )
    add_quiet_option(add)


def fidelity_target(text: str) -> str:
    """argparse type: refuses a target the gateway would refuse, before any upload."""
    try:
        return str(parse_fidelity_target(text))
    except FidelityTargetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
