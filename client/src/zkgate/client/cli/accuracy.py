"""`zkgate evaluate` and `zkgate verify-accuracy`: verified accuracy from the command line.

Exit codes follow `zkgate verify`: 0 the certificate was obtained (or verifies), 1 it was refused
(or is rejected), 2 the files given could not be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from zkgate.client.cli.arguments import hex_digest, open_fraction, output_file, positive_int
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
from zkgate.client.proof_jobs import ProofJobFailed
from zkgate.client.protocols.accuracy.verification import (
    AccuracyError,
    VerifiedAccuracy,
    verify_accuracy,
)
from zkgate.core.attestations import AttestationError
from zkgate.core.bundle import BundleError, VerifierBundle
from zkgate.core.held_out_set import TestSet, TestSetError
from zkgate.core.output_files import write_atomic
from zkgate.core.protocols.accuracy import (
    DEFAULT_DELTA,
    DEFAULT_EPSILON,
    AccuracyCertificate,
    AccuracyFormatError,
)


def add_accuracy_commands(
    subparsers: Any,
) -> None:
    """Register both commands."""
    evaluate = with_target(
        subparsers.add_parser(
            "evaluate",
            help="certify a model's accuracy on your test set; see docs/protocols.md",
            description="Commits to the test set, has the gateway sign the model commitment it "
            "serves, reveals the set and waits for the proofs of a sample neither side chose. "
            "Writes the certificate and verifies it. Exit 0: verified; 1: refused or rejected; "
            "2: unreadable input.",
        )
    )
    evaluate.add_argument("model")
    _add_test_set_arguments(evaluate)
    evaluate.add_argument("--epsilon", type=open_fraction, default=DEFAULT_EPSILON)
    evaluate.add_argument("--delta", type=open_fraction, default=DEFAULT_DELTA)
    evaluate.add_argument(
        "--sample-size",
        type=positive_int,
        help="examples to prove (default: Hoeffding's n for eps, delta)",
    )
    evaluate.add_argument(
        "--out",
        type=output_file("--out"),
        required=True,
        help="where the certificate goes (checked before any proving)",
    )
    evaluate.set_defaults(func=run_evaluate)

    check = subparsers.add_parser(
        "verify-accuracy",
        help="check an accuracy certificate against your test set, offline",
        description="Exit 0: verified; 1: rejected; 2: unreadable input.",
    )
    check.add_argument("certificate", type=Path)
    _add_test_set_arguments(check)
    check.add_argument("--bundle", type=Path, required=True, help="the batch circuit's bundle")
    add_gateway_key_argument(check)
    check.set_defaults(func=run_verify_accuracy)


def _add_test_set_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--examples", type=Path, required=True, help=".npy float32 (N, *input)")
    parser.add_argument("--labels", type=Path, required=True, help=".npy integer labels (N,)")
    parser.add_argument(
        "--commitment", type=hex_digest, required=True, help="pinned model commitment (hex)"
    )
    parser.add_argument(
        "--batch-commitment",
        type=hex_digest,
        required=True,
        help="pinned batch-circuit commitment (hex)",
    )
    add_srs_trust_arguments(parser)


def _test_set(args: argparse.Namespace) -> TestSet:
    try:
        return TestSet.from_npy(
            read_input(args.examples, "examples file"), read_input(args.labels, "labels file")
        )
    except TestSetError as exc:
        raise InputError(str(exc)) from exc


def _report(verified: VerifiedAccuracy) -> None:
    for line in verified.checks:
        print(f"ok  {line}")
    print(
        f"VERIFIED: {verified.correct}/{verified.sample_size} correct, accuracy "
        f"{verified.accuracy:.4f}, at least {verified.lower_bound:.4f} with probability "
        f"{1 - verified.delta:g}"
    )


def run_evaluate(args: argparse.Namespace) -> int:
    try:
        test_set = _test_set(args)
    except InputError as exc:
        print(f"zkgate evaluate: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    pins = {"pinned_commitment": args.commitment, "pinned_batch_commitment": args.batch_commitment}
    with connect(args.target, args) as client:
        try:
            certificate = client.evaluate_accuracy(
                args.model,
                test_set,
                epsilon=args.epsilon,
                delta=args.delta,
                sample_size=args.sample_size,
                timeout=args.timeout,
                **pins,
            )
        except AccuracyFormatError as exc:
            print(f"zkgate evaluate: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except (AttestationError, ProofJobFailed) as exc:
            print(f"zkgate evaluate: {exc}", file=sys.stderr)
            return EXIT_REJECTED
        write_atomic(args.out, certificate.to_json())
        print(f"certificate written to {args.out}")
        try:
            verified = client.verify_accuracy(
                certificate,
                test_set,
                allow_insecure_srs=args.allow_insecure_srs,
                trusted_srs_identities=args.trust_srs,
                **pins,
            )
        except AccuracyError as exc:
            print(f"REJECTED ({exc.reason}): {exc.detail}", file=sys.stderr)
            return EXIT_REJECTED
    _report(verified)
    return EXIT_VERIFIED


def run_verify_accuracy(args: argparse.Namespace) -> int:
    try:
        test_set = _test_set(args)
        key = gateway_key_argument(args.gateway_key)
        bundle = VerifierBundle.load(args.bundle)
        certificate = AccuracyCertificate.from_json(read_input(args.certificate, "certificate"))
    except (InputError, BundleError, AccuracyFormatError) as exc:
        print(f"zkgate verify-accuracy: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        verified = verify_accuracy(
            certificate,
            test_set,
            bundle,
            pinned_commitment=args.commitment,
            pinned_batch_commitment=args.batch_commitment,
            gateway_public_key=key,
            allow_insecure_srs=args.allow_insecure_srs,
            trusted_srs_identities=args.trust_srs,
        )
    except AccuracyError as exc:
        print(f"REJECTED ({exc.reason}): {exc.detail}", file=sys.stderr)
        return EXIT_REJECTED
    _report(verified)
    return EXIT_VERIFIED
