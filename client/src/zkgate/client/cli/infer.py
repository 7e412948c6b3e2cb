"""`zkgate infer`: run a prediction on the gateway, and optionally wait for its proof, save
everything an offline `zkgate verify` needs, and verify it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from zkgate.client.cli.exit_codes import InputError, read_input
from zkgate.client.cli.gateway_options import connect
from zkgate.client.cli.job_progress import follow_job
from zkgate.client.cli.output import CommandOutput, output_of, tensor_documents
from zkgate.client.client import Client
from zkgate.client.proof_jobs import batch_entry_of
from zkgate.core.array_rows import load_npy
from zkgate.core.card import ModelCard
from zkgate.core.documents import parse_json
from zkgate.core.output_files import write_atomic
from zkgate.core.prediction import Prediction
from zkgate.core.tensors import numpy_dtype
from zkgate.wire import zkgate_pb2 as pb


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
        documents: list[dict[str, Any]] = []
        output_of(args).set(predictions=documents)
        for row, prediction in enumerate(rows):
            save = args.save if len(rows) == 1 or not args.save else args.save / f"row-{row}"
            documents.append({})
            status = _report_row(args, client, card, prediction, save, documents[-1])
            if status:
                return status
        return 0


def _report_row(
    args: argparse.Namespace,
    client: Client,
    card: ModelCard,
    prediction: Prediction,
    save: Path | None,
    document: dict[str, Any],
) -> int:
    """One served row (a request holds several for a model with a dynamic batch axis): its
    outputs, receipt and proof job, saved to `save` and proven or verified as asked; what is
    printed goes into `document` too, for --json."""
    output = output_of(args)
    output.say(f"request   {prediction.request_id}")
    for tensor in prediction.outputs:
        output.say(
            f"output    {tensor.name} {tensor.datatype}{list(tensor.shape)}: "
            f"{np.array2string(tensor.array.ravel(), precision=4)}"
        )
    output.say(f"receipt   commitment {prediction.receipt.body.commitment}")
    document.update(
        request_id=prediction.request_id,
        outputs=tensor_documents(prediction.outputs),
        commitment=prediction.receipt.body.commitment,
        job_id=prediction.job_id or None,
    )
    if prediction.job_id:
        output.say(f"proof job {prediction.job_id}")
    if save:
        save.mkdir(parents=True, exist_ok=True)
        write_atomic(save / "prediction.json", prediction.to_json())
        output.say(f"saved     {save / 'prediction.json'}")
        document["saved"] = str(save)
    if not (args.wait or args.verify):
        return 0
    return _wait_for_proof(args, client, card, prediction, save, document)


def _wait_for_proof(
    args: argparse.Namespace,
    client: Client,
    card: ModelCard,
    prediction: Prediction,
    save: Path | None,
    document: dict[str, Any],
) -> int:
    """--wait and --verify: the proof, saved beside the prediction, then checked."""
    output = output_of(args)
    if not prediction.job_id:
        raise InputError("no proof job: pass --prove or use a model whose policy is 'always'")
    job = follow_job(client, prediction.job_id, timeout=args.timeout, quiet=args.quiet)
    entry = batch_entry_of(job)
    output.say(f"proof     {len(job.proof)} bytes")
    document["proof_bytes"] = len(job.proof)
    if entry is not None:
        output.say(f"batch     entry {entry.index} of a batch of {entry.size}")
        document["batch_entry"] = {"index": entry.index, "size": entry.size}
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
    document.update(_report_verified(output, args, entry is not None, verified.checks))
    return 0


def _report_verified(
    output: CommandOutput, args: argparse.Namespace, batched: bool, checks: list[str]
) -> dict[str, Any]:
    warnings = []
    if not args.commitment:
        warnings.append("no --commitment given: pinned the card's own commitment (TOFU)")
    if batched and not args.batch_commitment:
        warnings.append("no --batch-commitment given: pinned the card's own (TOFU)")
    for warning in warnings:
        output.say(f"warning   {warning}")
    documents = output.checks(checks, indent="  ")
    output.say("VERIFIED")
    return {"verified": True, "warnings": warnings, "checks": documents}
