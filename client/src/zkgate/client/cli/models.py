"""`zkgate models add|list|show|fetch|remove|default|sync`: register models, read what the
gateway holds of them, and manage their versions."""

from __future__ import annotations

import argparse
import json
from typing import Any

from zkgate.client.cli.gateway_options import connect
from zkgate.client.cli.job_progress import follow_job
from zkgate.client.cli.output import CommandOutput, output_of
from zkgate.client.proof_jobs import ProofJobFailed
from zkgate.core.card import ModelCard
from zkgate.core.documents import parse_json
from zkgate.core.output_files import write_atomic
from zkgate.core.srs import file_sha256
from zkgate.wire import zkgate_pb2 as pb


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
        output = output_of(args)
        output.say(f"registering {args.name} version {version}: job {response.job_id}")
        output.set(name=args.name, version=version, job_id=response.job_id, ready=False)
        if args.no_wait:
            return 0
        try:
            follow_job(client, response.job_id, timeout=args.timeout, quiet=args.quiet)
        except ProofJobFailed as exc:
            output.error(f"registration failed: {exc.job.error}")
            return 1
        model = client.model(args.name, version)
        output.say(f"ready       {args.name} version {version}\ncommitment  {model.commitment}")
        output.set(ready=True, commitment=model.commitment)
        card = ModelCard.from_json(model.card_json)
        _print_cost(output, card)
        _print_learning_summary(output, card)
        return 0


def _print_cost(output: CommandOutput, card: ModelCard) -> None:
    """What a proof of this model costs, and how the circuit was chosen: the figures a user
    weighs against the fidelity target they asked for."""
    memory = (
        ""
        if card.prove_peak_rss_bytes is None
        else f", {card.prove_peak_rss_bytes / 2**20:.0f} MiB"
    )
    output.set(
        prove_seconds=card.prove_seconds,
        prove_peak_rss_bytes=card.prove_peak_rss_bytes,
        logrows=card.logrows,
        proving_key_bytes=card.keys.proving_key_bytes,
    )
    output.say(
        f"proof cost  {card.prove_seconds:.2f} s{memory}, 2^{card.logrows} rows, proving key "
        f"{card.keys.proving_key_bytes / 2**20:.1f} MiB"
    )
    if card.tuning is not None:
        output.say(f"tuning      {card.tuning.reason} ({card.tuning.seconds:.0f} s)")
        output.set(tuning={"reason": card.tuning.reason, "seconds": card.tuning.seconds})


def _print_learning_summary(output: CommandOutput, card: ModelCard) -> None:
    summary = card.proof_of_learning
    if summary is None:
        return
    output.say(f"learning    {summary.decision} (report {summary.report_digest})")
    output.set(
        proof_of_learning={
            "decision": summary.decision,
            "report_digest": summary.report_digest,
            "rejected_before": summary.rejected_before,
            "reasons": list(summary.reasons),
        }
    )
    if summary.rejected_before:
        output.say(
            f"  rejected  {summary.rejected_before} earlier proof(s) of this owner for this ONNX "
            "file were rejected by this gateway"
        )
    for reason in summary.reasons:
        output.say(f"  reason    {reason}")


def cmd_models_list(args: argparse.Namespace) -> int:
    """One line per version: name, number, state, commitment (or error), and `default` on the
    version that serves requests naming none (`default (pinned)` when an operator chose it)."""
    output = output_of(args)
    versions: list[dict[str, Any]] = []
    with connect(args.target, args) as client:
        for model in client.models():
            for version in model.versions or [model]:
                output.say("\t".join(_version_columns(model.name, version)))
                versions.append(_version_document(model.name, version))
    output.set(versions=versions)
    return 0


def _state_name(state: pb.ModelState.ValueType) -> str:
    return pb.ModelState.Name(state).removeprefix("MODEL_STATE_").lower()


def _version_columns(name: str, version: pb.Model) -> list[str]:
    default = ("default (pinned)" if version.pinned else "default") if version.is_default else ""
    return [
        name,
        str(version.version),
        _state_name(version.state),
        version.commitment or version.error,
        default,
    ]


def _version_document(name: str, version: pb.Model) -> dict[str, Any]:
    return {
        "name": name,
        "version": version.version,
        "state": _state_name(version.state),
        "commitment": version.commitment or None,
        "error": version.error or None,
        "default": version.is_default,
        "pinned": version.pinned,
    }


def cmd_models_remove(args: argparse.Namespace) -> int:
    output = output_of(args)
    with connect(args.target, args) as client:
        response = client.remove_model(args.name, args.version)
    for removed in response.removed:
        output.say(
            f"removed     {removed.name} {removed.version} {removed.commitment or removed.state}"
        )
    for job_id in response.failed_job_ids:
        output.say(f"failed job  {job_id} (queued for a removed version)")
    output.say(f"deleted     {response.artifacts_deleted} artifacts, {response.bytes_freed} bytes")
    for reason in response.sweep_waiting:
        output.say(f"waiting     {reason}; its artifacts go at a later sweep")
    output.set(
        removed=[_version_document(removed.name, removed) for removed in response.removed],
        failed_job_ids=list(response.failed_job_ids),
        artifacts_deleted=response.artifacts_deleted,
        bytes_freed=response.bytes_freed,
        sweep_waiting=list(response.sweep_waiting),
    )
    return 0


def cmd_models_default(args: argparse.Namespace) -> int:
    with connect(args.target, args) as client:
        model = client.set_default_version(args.name, args.version)
    output = output_of(args)
    output.say(f"default     {model.name} {model.version} {model.commitment}")
    output.set(default=_version_document(model.name, model))
    return 0


def cmd_models_sync(args: argparse.Namespace) -> int:
    """Exit status 1 when any folder was refused (the others are synced all the same)."""
    output = output_of(args)
    with connect(args.target, args) as client:
        entries = client.sync_models()
    for entry in entries:
        detail = entry.error or f"version {entry.version}" + (
            f", job {entry.job_id}" if entry.job_id else ""
        )
        output.say(f"{entry.name}\t{entry.action}\t{detail}")
    output.set(
        entries=[
            {
                "name": entry.name,
                "action": entry.action,
                "version": entry.version,
                "job_id": entry.job_id or None,
                "error": entry.error or None,
            }
            for entry in entries
        ]
    )
    return 1 if any(entry.error for entry in entries) else 0


def cmd_models_show(args: argparse.Namespace) -> int:
    """The card as JSON in either mode: under --json inside the document, as `card`."""
    with connect(args.target, args) as client:
        model = client.model(args.name, args.version)
    output = output_of(args)
    if not model.card_json:
        card: object = {
            "name": model.name,
            "state": pb.ModelState.Name(model.state),
            "error": model.error,
        }
    else:
        card = parse_json(model.card_json, what=f"the card of {args.name!r}")
    if output.json_mode:
        output.set(card=card)
    else:
        print(json.dumps(card, indent=2, sort_keys=True))
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    with connect(args.target, args) as client:
        client.bundle(args.name, batch=args.batch, version=args.version).save(args.out)
        write_atomic(args.out / "gateway.key", client.gateway_key().hex())
    output = output_of(args)
    output.say(f"verifier bundle for {args.name} written to {args.out}")
    output.set(name=args.name, bundle=str(args.out), gateway_key=str(args.out / "gateway.key"))
    return 0
