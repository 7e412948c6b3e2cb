"""The `zkgate` command.

zkgate-client owns the command and its client-side subcommands; zkgate-gateway and
zkgate-prover add theirs (`serve`, `prover`) through the `zkgate.cli` entry-point group, so a
verifier-only install has a working `zkgate verify` and nothing that needs onnxruntime.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path

import grpc
import numpy as np
import numpy.typing as npt

from zkgate.client.channel import TlsSettings
from zkgate.client.cli.accuracy import add_accuracy_commands
from zkgate.client.cli.arguments import (
    hex_digest,
    non_negative_int,
    output_directory,
    positive_seconds,
)
from zkgate.client.cli.contest import add_contest_commands
from zkgate.client.cli.retrieval import add_retrieval_commands
from zkgate.client.cli.verify import (
    EXIT_BAD_INPUT,
    EXIT_REJECTED,
    InputError,
    add_srs_trust_arguments,
    add_verify_command,
    read_input,
)
from zkgate.client.client import Client
from zkgate.client.proof_jobs import ProofJobFailed, batch_entry_of
from zkgate.client.protocols.learning.calls import LearningReportMismatch
from zkgate.core.array_rows import load_npy
from zkgate.core.attestations import AttestationError
from zkgate.core.card import ModelCard
from zkgate.core.documents import parse_json, quote
from zkgate.core.output_files import write_atomic
from zkgate.core.reasoned_error import ReasonedError
from zkgate.core.srs import file_sha256, srs_identity, srs_logrows, verifier_slice
from zkgate.core.tensors import numpy_dtype
from zkgate.wire import zkgate_pb2 as pb

DEFAULT_TARGET = "127.0.0.1:8001"
# Set to 1 for the traceback of an unexpected error, which the command otherwise reports in one
# line.
DEBUG_ENVIRONMENT_VARIABLE = "ZKGATE_DEBUG"
EXIT_INTERRUPTED = 130


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """TLS files and the API key file; each also from the environment. The key itself is never
    a flag: command lines show up in `ps` and shell history."""
    env = os.environ
    parser.add_argument(
        "--api-key-file",
        type=Path,
        default=env.get("ZKGATE_API_KEY_FILE"),
        help="file holding the tenant's API key (env ZKGATE_API_KEY_FILE, or the key itself in "
        "ZKGATE_API_KEY)",
    )
    for name, what in (
        ("ca", "CA certificate of the gateway"),
        ("cert", "client certificate"),
        ("key", "client certificate's key"),
    ):
        variable = f"ZKGATE_TLS_{name.upper()}_FILE"
        parser.add_argument(
            f"--tls-{name}-file",
            type=Path,
            default=env.get(variable),
            help=f"PEM {what}; any TLS flag turns TLS on (env {variable})",
        )


def connect(target: str, args: argparse.Namespace) -> Client:
    api_key = os.environ.get("ZKGATE_API_KEY")
    if args.api_key_file:
        api_key = Path(args.api_key_file).read_text().strip()
    files = (args.tls_ca_file, args.tls_cert_file, args.tls_key_file)
    tls = None
    if any(files):
        tls = TlsSettings(*(Path(f) if f else None for f in files))
    return Client(target, tls=tls, api_key=api_key)


def _client(args: argparse.Namespace) -> Client:
    return connect(args.target, args)


def _load_array(path: Path) -> npt.NDArray[np.generic]:
    data = read_input(path, "input file")
    if path.suffix == ".npy":
        return load_npy(data, f"input file {path}")
    values = parse_json(data, what=f"input file {path}")
    try:
        return np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise InputError(f"input file {path} is not a JSON array of numbers: {exc}") from exc


def _read_inputs(specs: Sequence[str], card: ModelCard) -> dict[str, npt.NDArray[np.generic]]:
    """`FILE` for a single-input model, or `NAME=FILE` per input; cast to the card's dtypes."""
    by_name = {t.name: t for t in card.inputs}
    inputs: dict[str, npt.NDArray[np.generic]] = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep:
            if len(card.inputs) != 1:
                raise InputError(f"model has inputs {list(by_name)}: use --input NAME=FILE")
            name, file = card.inputs[0].name, spec
        if name not in by_name:
            raise InputError(f"model has no input {name!r}; inputs: {list(by_name)}")
        want = by_name[name]
        array = _load_array(Path(file)).astype(numpy_dtype(want.datatype))
        inputs[name] = array.reshape(want.shape) if array.size == np.prod(want.shape) else array
    return inputs


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def cmd_infer(args: argparse.Namespace) -> int:
    with _client(args) as client:
        model = client.model(args.model)
        if not model.card_json:
            raise InputError(
                f"model {args.model!r} is not ready: {pb.ModelState.Name(model.state)}"
            )
        card = ModelCard.from_json(model.card_json)
        prediction = client.infer(args.model, _read_inputs(args.input, card), prove=args.prove)
        print(f"request   {prediction.request_id}")
        for tensor in prediction.outputs:
            print(
                f"output    {tensor.name} {tensor.datatype}{list(tensor.shape)}: "
                f"{np.array2string(tensor.array.ravel(), precision=4)}"
            )
        print(f"receipt   commitment {prediction.receipt.body.commitment}")
        if prediction.job_id:
            print(f"proof job {prediction.job_id}")
        if args.save:
            write_atomic(args.save / "prediction.json", prediction.to_json())
            print(f"saved     {args.save / 'prediction.json'}")
        if not (args.wait or args.verify):
            return 0
        if not prediction.job_id:
            raise InputError("no proof job: pass --prove or use a model whose policy is 'always'")
        job = client.wait_for_job(prediction.job_id, timeout=args.timeout)
        entry = batch_entry_of(job)
        print(f"proof     {len(job.proof)} bytes")
        if entry is not None:
            print(f"batch     entry {entry.index} of a batch of {entry.size}")
        if args.save:
            write_atomic(args.save / "proof.json", job.proof)
            client.bundle(args.model, batch=entry is not None).save(args.save / "bundle")
            write_atomic(args.save / "gateway.key", client.gateway_key().hex())
            if entry is not None:
                write_atomic(args.save / "batch_entry.json", entry.to_json())
        if not args.verify:
            return 0
        batch_commitment = None
        if entry is not None and card.batch is not None:
            batch_commitment = args.batch_commitment or card.batch.commitment
        verified = client.verify(
            prediction,
            job.proof,
            pinned_commitment=args.commitment or card.commitment,
            allow_insecure_srs=args.allow_insecure_srs,
            trusted_srs_identities=args.trust_srs,
            batch_entry=entry,
            pinned_batch_commitment=batch_commitment,
        )
        if not args.commitment:
            print("warning   no --commitment given: pinned the card's own commitment (TOFU)")
        if entry is not None and not args.batch_commitment:
            print("warning   no --batch-commitment given: pinned the card's own (TOFU)")
        for check in verified.checks:
            print(f"  ok  {check}")
        print("VERIFIED")
        return 0


def cmd_models_add(args: argparse.Namespace) -> int:
    srs_sha256 = args.srs_sha256
    if args.srs and not srs_sha256:
        # Pin the file as it is here; provers refuse a file that differs.
        srs_sha256 = file_sha256(args.srs)
    archive = args.proof_of_learning.read_bytes() if args.proof_of_learning else None
    with _client(args) as client:
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
        _print_learning_summary(ModelCard.from_json(model.card_json))
        return 0


def _print_learning_summary(card: ModelCard) -> None:
    summary = card.proof_of_learning
    if summary is None:
        return
    print(f"learning    {summary.decision} (report {summary.report_digest})")
    for reason in summary.reasons:
        print(f"  reason    {reason}")


def cmd_models_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        for model in client.models():
            state = pb.ModelState.Name(model.state).removeprefix("MODEL_STATE_").lower()
            print(f"{model.name}\t{state}\t{model.commitment or model.error}")
    return 0


def cmd_models_show(args: argparse.Namespace) -> int:
    with _client(args) as client:
        model = client.model(args.name)
    if not model.card_json:
        _print_json(
            {"name": model.name, "state": pb.ModelState.Name(model.state), "error": model.error}
        )
        return 0
    _print_json(parse_json(model.card_json, what=f"the card of {args.name!r}"))
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    with _client(args) as client:
        client.bundle(args.name, batch=args.batch).save(args.out)
        write_atomic(args.out / "gateway.key", client.gateway_key().hex())
    print(f"verifier bundle for {args.name} written to {args.out}")
    return 0


def cmd_srs_identity(args: argparse.Namespace) -> int:
    data = args.file.read_bytes()
    print(f"identity   {srs_identity(verifier_slice(data))}")
    print(f"logrows    {srs_logrows(data)}")
    print(f"sha256     {file_sha256(args.file)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zkgate", description=__doc__.split("\n")[0] if __doc__ else None
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_target(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--target",
            default=os.environ.get("ZKGATE_TARGET", DEFAULT_TARGET),
            help=f"gateway address (env ZKGATE_TARGET, default {DEFAULT_TARGET})",
        )
        p.add_argument(
            "--timeout", type=positive_seconds, default=900.0, help="seconds to wait for jobs"
        )
        add_connection_arguments(p)
        return p

    infer = with_target(commands.add_parser("infer", help="run a prediction on the gateway"))
    infer.add_argument("model")
    infer.add_argument(
        "--input",
        action="append",
        required=True,
        metavar="[NAME=]FILE",
        help=".npy or JSON array; repeat as NAME=FILE for several inputs",
    )
    infer.add_argument("--prove", action="store_true", help="enqueue a proof of this prediction")
    infer.add_argument("--wait", action="store_true", help="wait for the proof")
    infer.add_argument("--verify", action="store_true", help="wait for the proof and verify it")
    infer.add_argument(
        "--commitment", type=hex_digest, help="the model commitment you pinned (hex)"
    )
    infer.add_argument(
        "--batch-commitment",
        type=hex_digest,
        help="the batch circuit's commitment you pinned (hex), for models proven in batches",
    )
    add_srs_trust_arguments(infer)
    infer.add_argument(
        "--save",
        type=output_directory("--save"),
        metavar="DIR",
        help="write prediction.json (and proof.json, bundle/, batch_entry.json for a batched "
        "proof, after --wait)",
    )
    infer.set_defaults(func=cmd_infer)

    add_verify_command(commands)
    add_contest_commands(commands, with_target, connect)
    add_accuracy_commands(commands, with_target, connect)
    add_retrieval_commands(commands, with_target, connect)

    models = commands.add_parser("models", help="register and inspect models").add_subparsers(
        dest="models_command", required=True
    )
    add = with_target(models.add_parser("add", help="register an ONNX model (runs on a prover)"))
    add.add_argument("name")
    add.add_argument("onnx", type=Path)
    add.add_argument(
        "--calibration", type=Path, required=True, help=".npy float32 samples stacked on axis 0"
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
        "--proof-of-learning",
        type=Path,
        metavar="FILE",
        help="archive from `zkgate pol record --archive`; a prover verifies it against the model",
    )
    add.add_argument("--no-wait", action="store_true", help="return once the job is queued")
    add.set_defaults(func=cmd_models_add)
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

    srs = commands.add_parser(
        "srs-identity",
        help="the identity to trust (--trust-srs) for an SRS file you hold, e.g. a ceremony file",
    )
    srs.add_argument("file", type=Path)
    srs.set_defaults(func=cmd_srs_identity)

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


def run_guarded(command: Callable[[], int], name: str) -> int:
    """Runs a command, turning whatever it raises into one line on stderr and an exit code."""
    try:
        return command()
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except grpc.RpcError as exc:
        print(f"{name}: the gateway answered {exc.code().name}: {exc.details()}", file=sys.stderr)
        return EXIT_REJECTED
    except ReasonedError as exc:
        print(f"{name}: REJECTED ({exc.reason}): {exc.detail}", file=sys.stderr)
        return EXIT_REJECTED
    except (AttestationError, ProofJobFailed, LearningReportMismatch) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    except Exception as exc:
        print(f"{name}: {_describe(exc)}", file=sys.stderr)
        if os.environ.get(DEBUG_ENVIRONMENT_VARIABLE) == "1":
            traceback.print_exc()
        return EXIT_BAD_INPUT


def _describe(exc: Exception) -> str:
    """zkgate's format errors are ValueError subclasses whose message is written for the user,
    as are file errors; anything else is a defect, named as one."""
    if isinstance(exc, InputError) or (
        isinstance(exc, ValueError) and type(exc).__module__.startswith("zkgate.")
    ):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
    return (
        f"unexpected {type(exc).__name__}: {quote(str(exc), 200)} (a zkgate bug: set "
        f"{DEBUG_ENVIRONMENT_VARIABLE}=1 for the traceback and report it)"
    )


if __name__ == "__main__":
    sys.exit(main())
