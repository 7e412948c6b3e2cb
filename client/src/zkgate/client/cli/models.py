"""`zkgate models add|list|show|fetch`: register a model and read what the gateway holds of it."""

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
    listing = with_target(models.add_parser("list", help="list models and their states"))
    listing.set_defaults(func=cmd_models_list)
    show = with_target(models.add_parser("show", help="print a model's card"))
    show.add_argument("name")
    show.set_defaults(func=cmd_models_show)
    fetch = with_target(models.add_parser("fetch", help="save a verifier bundle for offline use"))
    fetch.add_argument("name")
    fetch.add_argument("--out", type=output_directory("--out"), required=True)
    fetch.add_argument(
        "--batch",
        action="store_true",
        help="the batch circuit's bundle (for batched proofs and accuracy certificates)",
    )
    fetch.set_defaults(func=cmd_models_fetch)


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
        print(f"registering {args.name}: job {response.job_id}")
        if args.no_wait:
            return 0
        try:
            client.wait_for_job(response.job_id, timeout=args.timeout)
        except ProofJobFailed as exc:
            print(f"registration failed: {exc.job.error}", file=sys.stderr)
            return 1
        model = client.model(args.name)
        print(f"ready       {args.name}\ncommitment  {model.commitment}")
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
    with connect(args.target, args) as client:
        for model in client.models():
            state = pb.ModelState.Name(model.state).removeprefix("MODEL_STATE_").lower()
            print(f"{model.name}\t{state}\t{model.commitment or model.error}")
    return 0


def cmd_models_show(args: argparse.Namespace) -> int:
    with connect(args.target, args) as client:
        model = client.model(args.name)
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
        client.bundle(args.name, batch=args.batch).save(args.out)
        write_atomic(args.out / "gateway.key", client.gateway_key().hex())
    print(f"verifier bundle for {args.name} written to {args.out}")
    return 0


def fidelity_target(text: str) -> str:
    """argparse type: refuses a target the gateway would refuse, before any upload."""
    try:
        return str(parse_fidelity_target(text))
    except FidelityTargetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
