"""`zkgate verify`: check a saved prediction and its proof offline (exit codes: `exit_codes`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from zkgate.client.cli.exit_codes import (
    EXIT_BAD_INPUT,
    EXIT_REJECTED,
    EXIT_VERIFIED,
    InputError,
    read_input,
)
from zkgate.client.cli.output import CommandOutput, output_of, tensor_documents
from zkgate.client.cli.trust_arguments import gateway_key_argument
from zkgate.client.verification.prediction import VerifiedPrediction, verify
from zkgate.client.verification.reasons import VerificationError
from zkgate.core.batch_entry import BatchEntry, BatchEntryFormatError
from zkgate.core.bundle import BundleError, VerifierBundle
from zkgate.core.documents import DocumentError, parse_object
from zkgate.core.prediction import Prediction, PredictionFormatError


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


def _report(output: CommandOutput, result: VerifiedPrediction) -> None:
    output.set(
        checks=output.checks(result.checks),
        verified=True,
        commitment=result.commitment,
        max_abs_diff=result.max_abs_diff,
        tolerance=result.tolerance,
        proven_outputs=tensor_documents(result.proven_outputs),
    )
    output.say("VERIFIED")


def run_verify(args: argparse.Namespace) -> int:
    output = output_of(args)
    try:
        evidence = _load_evidence(args)
    except InputError as exc:
        output.error(f"zkgate verify: {exc}")
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
        output.set(verified=False, reason=str(exc.reason), detail=exc.detail)
        output.error(f"REJECTED ({exc.reason}): {exc.detail}")
        return EXIT_REJECTED
    _report(output, result)
    return EXIT_VERIFIED
