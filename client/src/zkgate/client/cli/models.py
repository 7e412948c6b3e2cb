"""`zkgate models add|list|show|fetch|remove|default|sync`: register models, read what the
gateway holds of them, and manage their versions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from zkgate.client.cli.arguments import calibration_file, non_negative_int, output_directory
from zkgate.client.cli.gateway_options import connect, with_target
from zkgate.client.proof_jobs import ProofJobFailed
from zkgate.core.card import ModelCard
from zkgate.core.documents import parse_json
from zkgate.core.fidelity_target import (
    DEFAULT_EFFORT,
    DEFAULT_TARGET,
    FidelityTargetError,
    TuningEffort,
    parse_fidelity_target,
)
from zkgate.core.output_files import write_atomic
from zkgate.core.srs import file_sha256
from zkgate.wire import zkgate_pb2 as pb


def add_models_commands(subparsers: Any) -> None:
    models = subparsers.add_parser("models", help="register and inspect models").add_subparsers(
        dest="models_command", required=True
    )
    _add_register_command(models)
    listing = with_target(
        models.add_parser("list", help="list models, their versions and the default ones")
    )
    listing.set_defaults(func=cmd_models_list)
    show = with_target(models.add_parser("show", help="print a model's card"))
    show.add_argument("name")
    _add_version_option(show)
    show.set_defaults(func=cmd_models_show)
    fetch = with_target(models.add_parser("fetch", help="save a verifier bundle for offline use"))
    fetch.add_argument("name")
    _add_version_option(fetch)
    fetch.add_argument("--out", type=output_directory("--out"), required=True)
    fetch.add_argument(
        "--batch",
        action="store_true",
        help="the batch circuit's bundle (for batched proofs and accuracy certificates)",
    )
    fetch.set_defaults(func=cmd_models_fetch)
    remove = with_target(
        models.add_parser(
            "remove", help="remove a model or one version, and delete what nothing else uses"
        )
    )
    remove.add_argument("name")
    _add_version_option(remove, "the version to remove (default: every version)")
    remove.set_defaults(func=cmd_models_remove)
    default = with_target(
        models.add_parser("default", help="choose the version served when a request names none")
    )
    default.add_argument("name")
    default.add_argument("version", help="a version number (as `models list` shows) or commitment")
    default.set_defaults(func=cmd_models_default)
    sync = with_target(
        models.add_parser(
            "sync", help="register what is new or changed in the gateway's model repository"
        )
    )
    sync.set_defaults(func=cmd_models_sync)


def _add_version_option(
    parser: argparse.ArgumentParser,
    help_text: str = "a version number or commitment (default: the default version)",
) -> None:
    parser.add_argument("--version", default="", metavar="V", help=help_text)


def _add_register_command(models: Any) -> None:
    add = with_target(models.add_parser("add", help="register an ONNX model (runs on a prover)"))
    add.add_argument("name")
    add.add_argument("onnx", type=Path)
    add.add_argument(
        "--calibration",
        type=calibration_file,
        required=True,
        help="samples stacked on axis 0: .npy for a model with one input, or .npz with one "
        "array per input name (numpy.savez(FILE, NAME=samples, ...))",
    )
    add.add_argument(
        "--srs", type=Path, help="ceremony SRS file, at this path on the prover nodes too"
    )
    add.add_argument(
        "--srs-sha256", default="", help="SHA-256 pin of --srs (default: hash the local file)"
    )
    add.add_argument("--policy", choices=["on_request", "always", "never"], default="")
    add.add_argument("--max-logrows", type=non_negative_int, default=0)
    add.add_argument(
        "--batch-size",
        type=non_negative_int,
        default=0,
        help="also build a circuit over this many requests, proven together with hashed "
        "inputs and outputs (cross-request batching; 0 or 1: none)",
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
    add.add_argument(
        "--proof-of-learning",
        type=Path,
        metavar="FILE",
        help="archive from `zkgate pol record --archive`; a prover verifies it against the model",
    )
    add.add_argument("--no-wait", action="store_true", help="return once the job is queued")
    add.set_defaults(func=cmd_models_add)


def cmd_models_add(args: argparse.Namespace) -> int:
    srs_sha256 = args.srs_sha256
    if args.srs and not srs_sha256:
        # Pin the file as it is here; provers refuse a file that differs.
        srs_sha256 = file_sha256(args.srs)
    archive = args.proof_of_learning.read_bytes() if args.proof_of_learning else None
    with connect(args.target, args) as client:
        response = client.register_model(
            args.name,
            args.onnx,
            args.calibration,
            policy=args.policy,
            max_logrows=args.max_logrows,
            srs_path=str(args.srs.resolve()) if args.srs else "",
            srs_sha256=srs_sha256,
            proof_of_learning=archive,
            batch_size=args.batch_size,
            fidelity=args.fidelity,
            tuning=args.tuning,
        )
        version = str(response.model.version)
        print(f"registering {args.name} version {version}: job {response.job_id}")
        if args.no_wait:
            return 0
        try:
            client.wait_for_job(response.job_id, timeout=args.timeout)
        except ProofJobFailed as exc:
            print(f"registration failed: {exc.job.error}", file=sys.stderr)
            return 1
        model = client.model(args.name, version)
        print(f"ready       {args.name} version {version}\ncommitment  {model.commitment}")
        card = ModelCard.from_json(model.card_json)
        _print_cost(card)
        _print_learning_summary(card)
        return 0


def _print_cost(card: ModelCard) -> None:
    """What a proof of this model costs, and how the circuit was chosen: the figures a user
    weighs against the fidelity target they asked for."""
    memory = (
        ""
        if card.prove_peak_rss_bytes is None
        else f", {card.prove_peak_rss_bytes / 2**20:.0f} MiB"
    )
    print(
        f"proof cost  {card.prove_seconds:.2f} s{memory}, 2^{card.logrows} rows, proving key "
        f"{card.keys.proving_key_bytes / 2**20:.1f} MiB"
    )
    if card.tuning is not None:
        print(f"tuning      {card.tuning.reason} ({card.tuning.seconds:.0f} s)")


def _print_learning_summary(card: ModelCard) -> None:
    summary = card.proof_of_learning
    if summary is None:
        return
    print(f"learning    {summary.decision} (report {summary.report_digest})")
    if summary.rejected_before:
        print(
            f"  rejected  {summary.rejected_before} earlier proof(s) of this owner for this ONNX "
            "file were rejected by this gateway"
        )
    for reason in summary.reasons:
        print(f"  reason    {reason}")


def cmd_models_list(args: argparse.Namespace) -> int:
    """One line per version: name, number, state, commitment (or error), and `default` on the
    version that serves requests naming none (`default (pinned)` when an operator chose it)."""
    with connect(args.target, args) as client:
        for model in client.models():
            for version in model.versions or [model]:
                print("\t".join(_version_columns(model.name, version)))
    return 0


def _version_columns(name: str, version: pb.Model) -> list[str]:
    state = pb.ModelState.Name(version.state).removeprefix("MODEL_STATE_").lower()
    default = ("default (pinned)" if version.pinned else "default") if version.is_default else ""
    return [name, str(version.version), state, version.commitment or version.error, default]


def cmd_models_remove(args: argparse.Namespace) -> int:
    with connect(args.target, args) as client:
        response = client.remove_model(args.name, args.version)
    for removed in response.removed:
        print(f"removed     {removed.name} {removed.version} {removed.commitment or removed.state}")
    for job_id in response.failed_job_ids:
        print(f"failed job  {job_id} (queued for a removed version)")
    print(f"deleted     {response.artifacts_deleted} artifacts, {response.bytes_freed} bytes")
    for reason in response.sweep_waiting:
        print(f"waiting     {reason}; its artifacts go at a later sweep")
    return 0


def cmd_models_default(args: argparse.Namespace) -> int:
    with connect(args.target, args) as client:
        model = client.set_default_version(args.name, args.version)
    print(f"default     {model.name} {model.version} {model.commitment}")
    return 0


def cmd_models_sync(args: argparse.Namespace) -> int:
    """Exit status 1 when any folder was refused (the others are synced all the same)."""
    with connect(args.target, args) as client:
        entries = client.sync_models()
    for entry in entries:
        detail = entry.error or f"version {entry.version}" + (
            f", job {entry.job_id}" if entry.job_id else ""
        )
        print(f"{entry.name}\t{entry.action}\t{detail}")
    return 1 if any(entry.error for entry in entries) else 0


def cmd_models_show(args: argparse.Namespace) -> int:
    with connect(args.target, args) as client:
        model = client.model(args.name, args.version)
    if not model.card_json:
        _print_json(
            {"name": model.name, "state": pb.ModelState.Name(model.state), "error": model.error}
        )
        return 0
    _print_json(parse_json(model.card_json, what=f"the card of {args.name!r}"))
    return 0


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def cmd_models_fetch(args: argparse.Namespace) -> int:
    with connect(args.target, args) as client:
        client.bundle(args.name, batch=args.batch, version=args.version).save(args.out)
        write_atomic(args.out / "gateway.key", client.gateway_key().hex())
    print(f"verifier bundle for {args.name} written to {args.out}")
    return 0


def fidelity_target(text: str) -> str:
    """argparse type: refuses a target the gateway would refuse, before any upload."""
    try:
        return str(parse_fidelity_target(text))
    except FidelityTargetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
