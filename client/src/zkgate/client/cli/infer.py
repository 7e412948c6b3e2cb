"""`zkgate infer`: run a prediction on the gateway, and optionally wait for its proof, save
everything an offline `zkgate verify` needs, and verify it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from zkgate.client.cli.arguments import hex_digest, output_directory
from zkgate.client.cli.exit_codes import InputError, read_input
from zkgate.client.cli.gateway_options import connect, with_target
from zkgate.client.cli.trust_arguments import add_srs_trust_arguments
from zkgate.client.client import Client
from zkgate.client.proof_jobs import batch_entry_of
from zkgate.core.array_rows import load_npy
from zkgate.core.card import ModelCard
from zkgate.core.documents import parse_json
from zkgate.core.output_files import write_atomic
from zkgate.core.prediction import Prediction
from zkgate.core.tensors import numpy_dtype
from zkgate.wire import zkgate_pb2 as pb


def add_infer_command(subparsers: Any) -> None:
    infer = with_target(subparsers.add_parser("infer", help="run a prediction on the gateway"))
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


def cmd_infer(args: argparse.Namespace) -> int:
    with connect(args.target, args) as client:
        model = client.model(args.model)
        if not model.card_json:
            raise InputError(
                f"model {args.model!r} is not ready: {pb.ModelState.Name(model.state)}"
            )
        card = ModelCard.from_json(model.card_json)
        rows = client.infer_rows(args.model, _read_inputs(args.input, card), prove=args.prove)
        for row, prediction in enumerate(rows):
            save = args.save if len(rows) == 1 or not args.save else args.save / f"row-{row}"
            status = _report_row(args, client, card, prediction, save)
            if status:
                return status
        return 0


def _report_row(
    args: argparse.Namespace,
    client: Client,
    card: ModelCard,
    prediction: Prediction,
    save: Path | None,
) -> int:
    """One served row (a request holds several for a model with a dynamic batch axis): its
    outputs, receipt and proof job, saved to `save` and proven or verified as asked."""
    print(f"request   {prediction.request_id}")
    for tensor in prediction.outputs:
        print(
            f"output    {tensor.name} {tensor.datatype}{list(tensor.shape)}: "
            f"{np.array2string(tensor.array.ravel(), precision=4)}"
        )
    print(f"receipt   commitment {prediction.receipt.body.commitment}")
    if prediction.job_id:
        print(f"proof job {prediction.job_id}")
    if save:
        save.mkdir(parents=True, exist_ok=True)
        write_atomic(save / "prediction.json", prediction.to_json())
        print(f"saved     {save / 'prediction.json'}")
    if not (args.wait or args.verify):
        return 0
    return _wait_for_proof(args, client, card, prediction, save)


def _wait_for_proof(
    args: argparse.Namespace,
    client: Client,
    card: ModelCard,
    prediction: Prediction,
    save: Path | None,
) -> int:
    """--wait and --verify: the proof, saved beside the prediction, then checked."""
    if not prediction.job_id:
        raise InputError("no proof job: pass --prove or use a model whose policy is 'always'")
    job = client.wait_for_job(prediction.job_id, timeout=args.timeout)
    entry = batch_entry_of(job)
    print(f"proof     {len(job.proof)} bytes")
    if entry is not None:
        print(f"batch     entry {entry.index} of a batch of {entry.size}")
    if save:
        write_atomic(save / "proof.json", job.proof)
        client.bundle(args.model, batch=entry is not None).save(save / "bundle")
        write_atomic(save / "gateway.key", client.gateway_key().hex())
        if entry is not None:
            write_atomic(save / "batch_entry.json", entry.to_json())
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
