"""`zkgate evaluate` and `zkgate verify-accuracy`: verified accuracy from the command line.

Exit codes follow `zkgate verify`: 0 the certificate was obtained (or verifies), 1 it was refused
(or is rejected), 2 the files given could not be read.
"""

from __future__ import annotations

import argparse

from zkgate.client.cli.exit_codes import (
    EXIT_BAD_INPUT,
    EXIT_REJECTED,
    EXIT_VERIFIED,
    InputError,
    read_input,
)
from zkgate.client.cli.gateway_options import connect
from zkgate.client.cli.output import CommandOutput, output_of
from zkgate.client.cli.trust_arguments import gateway_key_argument
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
from zkgate.core.protocols.accuracy import AccuracyCertificate, AccuracyFormatError


def _test_set(args: argparse.Namespace) -> TestSet:
    try:
        return TestSet.from_npy(
            read_input(args.examples, "examples file"), read_input(args.labels, "labels file")
        )
    except TestSetError as exc:
        raise InputError(str(exc)) from exc


def _report(output: CommandOutput, verified: VerifiedAccuracy) -> None:
    output.set(
        checks=output.checks(verified.checks),
        verified=True,
        correct=verified.correct,
        sample_size=verified.sample_size,
        accuracy=verified.accuracy,
        lower_bound=verified.lower_bound,
        delta=verified.delta,
    )
    output.say(
        f"VERIFIED: {verified.correct}/{verified.sample_size} correct, accuracy "
        f"{verified.accuracy:.4f}, at least {verified.lower_bound:.4f} with probability "
        f"{1 - verified.delta:g}"
    )


def run_evaluate(args: argparse.Namespace) -> int:
    output = output_of(args)
    try:
        test_set = _test_set(args)
    except InputError as exc:
        output.error(f"zkgate evaluate: {exc}")
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
            output.error(f"zkgate evaluate: {exc}")
            return EXIT_BAD_INPUT
        except (AttestationError, ProofJobFailed) as exc:
            output.error(f"zkgate evaluate: {exc}")
            return EXIT_REJECTED
        write_atomic(args.out, certificate.to_json())
        output.say(f"certificate written to {args.out}")
        output.set(certificate=str(args.out))
        try:
            verified = client.verify_accuracy(
                certificate,
                test_set,
                allow_insecure_srs=args.allow_insecure_srs,
                trusted_srs_identities=args.trust_srs,
                **pins,
            )
        except AccuracyError as exc:
            output.error(f"REJECTED ({exc.reason}): {exc.detail}")
            return EXIT_REJECTED
    _report(output, verified)
    return EXIT_VERIFIED


def run_verify_accuracy(args: argparse.Namespace) -> int:
    output = output_of(args)
    try:
        test_set = _test_set(args)
        key = gateway_key_argument(args.gateway_key)
        bundle = VerifierBundle.load(args.bundle)
        certificate = AccuracyCertificate.from_json(read_input(args.certificate, "certificate"))
    except (InputError, BundleError, AccuracyFormatError) as exc:
        output.error(f"zkgate verify-accuracy: {exc}")
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
        output.error(f"REJECTED ({exc.reason}): {exc.detail}")
        return EXIT_REJECTED
    _report(output, verified)
    return EXIT_VERIFIED
