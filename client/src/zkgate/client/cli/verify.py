"""`zkgate verify`: check a saved prediction and its proof offline (exit codes: `exit_codes`)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkgate.client.cli.arguments import hex_digest, non_negative_number
from zkgate.client.cli.exit_codes import (
    EXIT_BAD_INPUT,
    EXIT_REJECTED,
    EXIT_VERIFIED,
    InputError,
    read_input,
)
from zkgate.client.cli.trust_arguments import (
    add_gateway_key_argument,
    add_srs_trust_arguments,
    gateway_key_argument,
)
from zkgate.client.verification.prediction import VerifiedPrediction, verify
from zkgate.client.verification.reasons import VerificationError
from zkgate.core.batch_entry import BatchEntry, BatchEntryFormatError
from zkgate.core.bundle import BundleError, VerifierBundle
from zkgate.core.documents import DocumentError, parse_object
from zkgate.core.prediction import Prediction, PredictionFormatError


def add_verify_command(subparsers: Any) -> None:
    """Register `verify` on an argparse subparsers object; the handler is `args.func`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "verify",
        help="verify a saved prediction and its proof against a pinned model commitment",
        description="Offline check of a prediction (from `zkgate infer --save`) and its proof. "
        "Exit 0: verified; 1: rejected; 2: unreadable input.",
    )
    parser.add_argument("--bundle", type=Path, required=True, help="verifier bundle directory")
    parser.add_argument("--prediction", type=Path, required=True, help="saved prediction JSON")
    parser.add_argument("--proof", type=Path, required=True, help="proof JSON")
    parser.add_argument(
        "--commitment", type=hex_digest, required=True, help="pinned model commitment (hex)"
    )
    parser.add_argument(
        "--batch-entry",
        type=Path,
        help="batch_entry.json saved with a batched proof; needs --batch-commitment and the "
        "batch circuit's bundle (`zkgate models fetch NAME --batch`)",
    )
    parser.add_argument(
        "--batch-commitment", type=hex_digest, help="pinned batch-circuit commitment (hex)"
    )
    add_gateway_key_argument(parser)
    add_srs_trust_arguments(parser)
    parser.add_argument(
        "--tolerance",
        type=non_negative_number,
        help="max served-vs-proven difference of float outputs (default: each output's own on "
        "the card); integer outputs must always equal the proven ones",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run_verify)


def _proof_bytes(path: Path) -> bytes:
    """Reject files that are not proof JSON at all, so exit 1 always means a real rejection."""
    data = read_input(path, "proof file")
    try:
        raw = parse_object(data, what=f"proof file {path}")
    except DocumentError as exc:
        raise InputError(str(exc)) from exc
    if not ("proof" in raw and "instances" in raw):
        raise InputError(f"proof file {path} is not an ezkl proof: no `proof` and `instances`")
    return data


@dataclass(frozen=True)
class _SavedEvidence:
    prediction: Prediction
    proof: bytes
    bundle: VerifierBundle
    gateway_key: bytes
    batch_entry: BatchEntry | None


def _load_evidence(args: argparse.Namespace) -> _SavedEvidence:
    if (args.batch_entry is None) != (args.batch_commitment is None):
        raise InputError("a batched proof needs both --batch-entry and --batch-commitment")
    try:
        bundle = VerifierBundle.load(args.bundle)
        prediction = Prediction.from_json(read_input(args.prediction, "prediction file"))
        entry = None
        if args.batch_entry is not None:
            entry = BatchEntry.from_json(read_input(args.batch_entry, "batch entry file"))
    except (BundleError, PredictionFormatError, BatchEntryFormatError) as exc:
        raise InputError(str(exc)) from exc
    return _SavedEvidence(
        prediction=prediction,
        proof=_proof_bytes(args.proof),
        bundle=bundle,
        gateway_key=gateway_key_argument(args.gateway_key),
        batch_entry=entry,
    )


def _result_json(result: VerifiedPrediction) -> str:
    return json.dumps(
        {
            "verified": True,
            "commitment": result.commitment,
            "max_abs_diff": result.max_abs_diff,
            "tolerance": result.tolerance,
            "checks": result.checks,
            "proven_outputs": [
                {"name": t.name, "shape": list(t.shape), "values": t.array.ravel().tolist()}
                for t in result.proven_outputs
            ],
        },
        indent=2,
    )


def run_verify(args: argparse.Namespace) -> int:
    try:
        evidence = _load_evidence(args)
    except InputError as exc:
        print(f"zkgate verify: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        result = verify(
            evidence.prediction,
            evidence.proof,
            evidence.bundle,
            pinned_commitment=args.commitment,
            gateway_public_key=evidence.gateway_key,
            allow_insecure_srs=args.allow_insecure_srs,
            trusted_srs_identities=args.trust_srs,
            tolerance=args.tolerance,
            batch_entry=evidence.batch_entry,
            pinned_batch_commitment=args.batch_commitment,
        )
    except VerificationError as exc:
        if args.json:
            print(json.dumps({"verified": False, "reason": str(exc.reason), "detail": exc.detail}))
        print(f"REJECTED ({exc.reason}): {exc.detail}", file=sys.stderr)
        return EXIT_REJECTED
    if args.json:
        print(_result_json(result))
    else:
        for check in result.checks:
            print(f"ok  {check}")
        print("VERIFIED")
    return EXIT_VERIFIED
