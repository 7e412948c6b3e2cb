"""`zkgate contest` and `zkgate check-evidence`: the contest protocol from the command line.

Exit codes follow `zkgate verify`: 0 the provider passed (or the evidence holds), 1 it did not
(or the evidence does not), 2 the files given could not be read.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from zkgate.client.cli.arguments import (
    closed_fraction,
    hex_digest,
    output_directory,
    positive_int,
    positive_seconds,
)
from zkgate.client.cli.exit_codes import (
    EXIT_BAD_INPUT,
    EXIT_REJECTED,
    EXIT_VERIFIED,
    InputError,
    read_input,
)
from zkgate.client.cli.gateway_options import connect, with_target
from zkgate.client.cli.trust_arguments import (
    add_gateway_key_argument,
    add_srs_trust_arguments,
    gateway_key_argument,
)
from zkgate.client.protocols.contest.evidence import EvidenceBundle, EvidenceError, check_evidence
from zkgate.core.attestations import AttestationError
from zkgate.core.output_files import write_atomic
from zkgate.core.prediction import Prediction, PredictionFormatError
from zkgate.core.protocols.contest import ContestError


def add_contest_commands(
    subparsers: Any,
) -> None:
    """Register both commands."""
    contest = with_target(
        subparsers.add_parser(
            "contest",
            help="contest a random sample of saved predictions; see docs/protocols.md",
            description="Draws k of the saved predictions with randomness neither side controls, "
            "asks the gateway for their proofs and verifies them. Exit 0: every sampled proof "
            "verified; 1: not; 2: unreadable input.",
        )
    )
    contest.add_argument(
        "predictions", type=Path, nargs="+", help="prediction files from `zkgate infer --save`"
    )
    contest.add_argument("-k", type=positive_int, required=True, help="how many receipts to sample")
    contest.add_argument(
        "--commitment", type=hex_digest, required=True, help="pinned model commitment (hex)"
    )
    contest.add_argument(
        "--deadline-seconds",
        type=positive_seconds,
        default=600.0,
        help="time the gateway has to prove",
    )
    contest.add_argument(
        "--tamper-rate",
        type=closed_fraction,
        default=0.01,
        help="report the chance of catching this fraction of tampered receipts",
    )
    add_srs_trust_arguments(contest)
    contest.add_argument(
        "--evidence-dir",
        type=output_directory("--evidence-dir"),
        default=Path(),
        help="where evidence bundles of refusals and timeouts are written (default: here)",
    )
    contest.set_defaults(func=run_contest_command)

    check = subparsers.add_parser(
        "check-evidence",
        help="check a contest evidence bundle against the gateway's key",
        description="Exit 0: the evidence holds; 1: it does not; 2: unreadable input.",
    )
    check.add_argument("bundle", type=Path)
    add_gateway_key_argument(check)
    check.set_defaults(func=run_check_evidence)


def _predictions(paths: list[Path]) -> list[Prediction]:
    try:
        return [Prediction.from_json(read_input(path, "prediction file")) for path in paths]
    except PredictionFormatError as exc:
        raise InputError(str(exc)) from exc


def run_contest_command(args: argparse.Namespace) -> int:
    try:
        contested = _predictions(args.predictions)
    except InputError as exc:
        print(f"zkgate contest: {exc}", file=sys.stderr)
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
            print(f"zkgate contest: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except AttestationError as exc:
            print(f"zkgate contest: the gateway's contest statement: {exc}", file=sys.stderr)
            return EXIT_REJECTED
    for outcome in result.outcomes:
        line = f"{outcome.kind:<10} receipt {outcome.index} ({outcome.prediction.request_id})"
        print(f"{line}: {outcome.detail}")
        if outcome.evidence is not None:
            path = args.evidence_dir / _evidence_file_name(outcome.prediction.request_id)
            write_atomic(path, outcome.evidence.to_json())
            print(f"           evidence written to {path}")
    print(
        f"sampled {len(result.sample)} of {len(contested)}; a tamper rate of "
        f"{result.tamper_rate:g} is caught with probability {result.detection_probability:.3f}"
    )
    print("ACCEPTED" if result.accepted else "NOT ACCEPTED")
    return EXIT_VERIFIED if result.accepted else EXIT_REJECTED


def _evidence_file_name(request_id: str) -> str:
    """The request id is the gateway's text: only its safe characters name a file, so that an
    id like `../x` cannot write outside the evidence directory."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", request_id)[:100].lstrip(".")
    return f"evidence-{safe or 'request'}.json"


def run_check_evidence(args: argparse.Namespace) -> int:
    try:
        key = gateway_key_argument(args.gateway_key)
        bundle = EvidenceBundle.from_json(read_input(args.bundle, "evidence bundle"))
    except (InputError, EvidenceError) as exc:
        print(f"zkgate check-evidence: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        checks = check_evidence(bundle, key)
    except EvidenceError as exc:
        print(f"REJECTED ({exc.reason}): {exc.detail}", file=sys.stderr)
        return EXIT_REJECTED
    for line in checks:
        print(f"ok  {line}")
    print(f"EVIDENCE HOLDS: {bundle.failure.kind} for request {bundle.prediction.request_id}")
    return EXIT_VERIFIED
