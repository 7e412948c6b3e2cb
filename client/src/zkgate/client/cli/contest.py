"""`zkgate contest` and `zkgate check-evidence`: the contest protocol from the command line.

Exit codes follow `zkgate verify`: 0 the provider passed (or the evidence holds), 1 it did not
(or the evidence does not), 2 the files given could not be read.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from zkgate.client.cli.exit_codes import (
    EXIT_BAD_INPUT,
    EXIT_REJECTED,
    EXIT_VERIFIED,
    InputError,
    read_input,
)
from zkgate.client.cli.gateway_options import connect
from zkgate.client.cli.output import output_of
from zkgate.client.cli.trust_arguments import gateway_key_argument
from zkgate.client.protocols.contest.evidence import EvidenceBundle, EvidenceError, check_evidence
from zkgate.core.attestations import AttestationError
from zkgate.core.output_files import write_atomic
from zkgate.core.prediction import Prediction, PredictionFormatError
from zkgate.core.protocols.contest import ContestError


def _predictions(paths: list[Path]) -> list[Prediction]:
    try:
        return [Prediction.from_json(read_input(path, "prediction file")) for path in paths]
    except PredictionFormatError as exc:
        raise InputError(str(exc)) from exc


def run_contest_command(args: argparse.Namespace) -> int:
    output = output_of(args)
    try:
        contested = _predictions(args.predictions)
    except InputError as exc:
        output.error(f"zkgate contest: {exc}")
        return EXIT_BAD_INPUT
    with connect(args.target, args) as client:
        try:
            result = client.contest(
                contested,
                args.k,
                pinned_commitment=args.commitment,
                deadline_seconds=args.deadline_seconds,
                tamper_rate=args.tamper_rate,
                allow_insecure_srs=args.allow_insecure_srs,
                trusted_srs_identities=args.trust_srs,
            )
        except ContestError as exc:
            output.error(f"zkgate contest: {exc}")
            return EXIT_BAD_INPUT
        except AttestationError as exc:
            output.error(f"zkgate contest: the gateway's contest statement: {exc}")
            return EXIT_REJECTED
    outcomes = []
    for outcome in result.outcomes:
        line = f"{outcome.kind:<10} receipt {outcome.index} ({outcome.prediction.request_id})"
        output.say(f"{line}: {outcome.detail}")
        document = {
            "kind": outcome.kind,
            "index": outcome.index,
            "request_id": outcome.prediction.request_id,
            "detail": outcome.detail,
            "evidence": None,
        }
        if outcome.evidence is not None:
            path = args.evidence_dir / _evidence_file_name(outcome.prediction.request_id)
            write_atomic(path, outcome.evidence.to_json())
            output.say(f"           evidence written to {path}")
            document["evidence"] = str(path)
        outcomes.append(document)
    output.say(
        f"sampled {len(result.sample)} of {len(contested)}; a tamper rate of "
        f"{result.tamper_rate:g} is caught with probability {result.detection_probability:.3f}"
    )
    output.say("ACCEPTED" if result.accepted else "NOT ACCEPTED")
    output.set(
        accepted=result.accepted,
        outcomes=outcomes,
        sampled=len(result.sample),
        contested=len(contested),
        tamper_rate=result.tamper_rate,
        detection_probability=result.detection_probability,
    )
    return EXIT_VERIFIED if result.accepted else EXIT_REJECTED


def _evidence_file_name(request_id: str) -> str:
    """The request id is the gateway's text: only its safe characters name a file, so that an
    id like `../x` cannot write outside the evidence directory."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", request_id)[:100].lstrip(".")
    return f"evidence-{safe or 'request'}.json"


def run_check_evidence(args: argparse.Namespace) -> int:
    output = output_of(args)
    try:
        key = gateway_key_argument(args.gateway_key)
        bundle = EvidenceBundle.from_json(read_input(args.bundle, "evidence bundle"))
    except (InputError, EvidenceError) as exc:
        output.error(f"zkgate check-evidence: {exc}")
        return EXIT_BAD_INPUT
    try:
        checks = check_evidence(bundle, key)
    except EvidenceError as exc:
        output.error(f"REJECTED ({exc.reason}): {exc.detail}")
        return EXIT_REJECTED
    output.set(
        checks=output.checks(checks),
        holds=True,
        failure=bundle.failure.kind,
        request_id=bundle.prediction.request_id,
    )
    output.say(f"EVIDENCE HOLDS: {bundle.failure.kind} for request {bundle.prediction.request_id}")
    return EXIT_VERIFIED
