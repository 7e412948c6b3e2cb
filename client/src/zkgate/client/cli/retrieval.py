"""`zkgate datasets`, `zkgate retrieve` and `zkgate verify-retrieval`: trustless retrieval from
the command line.

A retrieval directory holds what is needed to check it offline: `requester.json` (what the
requester held before it revealed its nonce: the answer signed then, the nonce, the sample size
and the scale it asked for; only `zkgate retrieve` writes it, so keep your own copy),
`result.json` (the responder's answer with its proofs), `bundle/` (the predicate's verifier
bundle) and, once verified, `matches.npy` and `match_indices.json` (the records the predicate
was proven to hold for). Exit codes follow `zkgate verify`: 0 verified, 1 refused or rejected,
2 unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

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
from zkgate.client.protocols.retrieval.predicate_circuit import PredicateMismatch
from zkgate.client.protocols.retrieval.verification import (
    RetrievalError,
    VerifiedRetrieval,
    verify_retrieval,
)
from zkgate.core.array_rows import RowsError
from zkgate.core.attestations import AttestationError
from zkgate.core.bundle import BundleError, VerifierBundle
from zkgate.core.dataset import Dataset
from zkgate.core.protocols.predicate import (
    DEFAULT_PREDICATE_SCALE,
    MAX_PREDICATE_SCALE,
    MIN_PREDICATE_SCALE,
)
from zkgate.core.protocols.retrieval import (
    DEFAULT_OMISSION_SAMPLE,
    MAX_RETRIEVAL_PROOFS,
    DatasetStatement,
    RequesterRecord,
    Retrieval,
    RetrievalFormatError,
    RetrievalResult,
)

RESULT_FILE = "result.json"
REQUESTER_FILE = "requester.json"
BUNDLE_DIRECTORY = "bundle"


def add_retrieval_commands(subparsers: Any) -> None:
    """`datasets commit|fetch`, `retrieve` and `verify-retrieval`."""
    _add_datasets_commands(subparsers)
    _add_retrieve_command(subparsers)
    check = subparsers.add_parser(
        "verify-retrieval",
        help="check a retrieval directory offline",
        description="Exit 0: verified; 1: rejected; 2: unreadable input.",
    )
    check.add_argument("directory", type=Path)
    _add_check_arguments(check)
    add_gateway_key_argument(check)
    check.set_defaults(func=run_verify_retrieval)


def _add_datasets_commands(subparsers: Any) -> None:
    datasets = subparsers.add_parser(
        "datasets", help="commit to and fetch datasets for trustless retrieval"
    ).add_subparsers(dest="datasets_command", required=True)
    commit = with_target(
        datasets.add_parser("commit", help="commit to a dataset (responder side, admin key)")
    )
    commit.add_argument("name")
    commit.add_argument("records", type=Path, help=".npy float32 (N, *predicate input shape)")
    commit.add_argument("--out", type=Path, required=True, help="where the signed statement goes")
    commit.set_defaults(func=run_commit)
    show = with_target(
        datasets.add_parser(
            "fetch", help="save a dataset's signed statement; do it before sending a predicate"
        )
    )
    show.add_argument("dataset_id")
    show.add_argument("--out", type=Path, required=True)
    show.set_defaults(func=run_fetch)


def _add_retrieve_command(subparsers: Any) -> None:
    retrieve = with_target(
        subparsers.add_parser(
            "retrieve",
            help="retrieve the records your predicate holds for, with proofs; see "
            "docs/protocols.md",
            description="Registers the predicate, has the gateway sign which records match "
            "before your nonce is revealed, waits for the proofs of the matches and of a drawn "
            "sample of left-out records, and verifies them. Exit 0: verified; 1: refused or "
            "rejected; 2: unreadable input.",
        )
    )
    retrieve.add_argument("dataset_id")
    _add_check_arguments(retrieve)
    retrieve.add_argument(
        "--sample-size",
        type=_bounded_int(1, MAX_RETRIEVAL_PROOFS),
        default=DEFAULT_OMISSION_SAMPLE,
        help="left-out records to prove non-matching (default: catches a 5%% omission rate "
        "with 95%% confidence)",
    )
    retrieve.add_argument(
        "--scale",
        type=_bounded_int(MIN_PREDICATE_SCALE, MAX_PREDICATE_SCALE),
        default=DEFAULT_PREDICATE_SCALE,
        help="bits after the point the predicate is compiled at, for records and weights "
        "(default: %(default)s); its proofs are refused at any other",
    )
    retrieve.add_argument("--out", type=Path, required=True, help="the retrieval directory")
    retrieve.set_defaults(func=run_retrieve)


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high], refused before anything is sent."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:80]!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} does not lie between {low} and {high}")
        return value

    return parse


def _add_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", type=Path, required=True, help="the statement `datasets fetch` saved"
    )
    parser.add_argument("--predicate", type=Path, required=True, help="your predicate's ONNX")
    parser.add_argument(
        "--srs",
        type=Path,
        required=True,
        help="a full SRS file you trust, of the predicate's logrows (the ceremony file)",
    )
    add_srs_trust_arguments(parser)


def _check_inputs(args: argparse.Namespace) -> tuple[DatasetStatement, bytes]:
    """The dataset statement and the predicate ONNX; the SRS file must at least exist."""
    if not args.srs.is_file():
        raise InputError(f"SRS file {args.srs} does not exist")
    try:
        dataset = DatasetStatement.from_json(read_input(args.dataset, "dataset statement"))
    except AttestationError as exc:
        raise InputError(f"{args.dataset}: {exc}") from exc
    return dataset, read_input(args.predicate, "predicate ONNX")


def _report(verified: VerifiedRetrieval, directory: Path) -> None:
    for line in verified.checks:
        print(f"ok  {line}")
    indices = [index for index, _ in verified.matches]
    records = [record for _, record in verified.matches]
    if records:
        np.save(directory / "matches.npy", np.stack(records), allow_pickle=False)
    (directory / "match_indices.json").write_text(json.dumps(indices), encoding="utf-8")
    print(
        f"VERIFIED: {len(indices)} of {verified.dataset_size} records match, written to "
        f"{directory}; {len(verified.sampled)} of {verified.left_out} left-out records proven "
        f"non-matching (one omitted match would have been drawn with probability "
        f"{len(verified.sampled)}/{verified.left_out} = {verified.detection_probability(1):.3f})"
    )


def run_commit(args: argparse.Namespace) -> int:
    try:
        dataset = Dataset.from_npy(read_input(args.records, "records file"))
    except (InputError, RowsError) as exc:
        print(f"zkgate datasets commit: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    with connect(args.target, args) as client:
        try:
            dataset_id, statement = client.commit_dataset(args.name, dataset)
        except AttestationError as exc:
            print(f"zkgate datasets commit: {exc}", file=sys.stderr)
            return EXIT_REJECTED
    args.out.write_text(statement.to_json(), encoding="utf-8")
    print(f"dataset {dataset_id}: root {statement.root}, {statement.size} records")
    return EXIT_VERIFIED


def run_fetch(args: argparse.Namespace) -> int:
    with connect(args.target, args) as client:
        try:
            statement = client.dataset(args.dataset_id)
        except AttestationError as exc:
            print(f"zkgate datasets fetch: {exc}", file=sys.stderr)
            return EXIT_REJECTED
    args.out.write_text(statement.to_json(), encoding="utf-8")
    print(f"dataset {statement.name!r}: root {statement.root}, {statement.size} records")
    return EXIT_VERIFIED


def run_retrieve(args: argparse.Namespace) -> int:
    try:
        dataset, predicate = _check_inputs(args)
        args.out.mkdir(parents=True, exist_ok=True)
    except InputError as exc:
        print(f"zkgate retrieve: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"zkgate retrieve: cannot write to {args.out}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    with connect(args.target, args) as client:
        try:
            retrieval = client.retrieve(
                args.dataset_id,
                dataset,
                predicate,
                sample_size=args.sample_size,
                scale=args.scale,
                timeout=args.timeout,
            )
        except (AttestationError, ProofJobFailed, PredicateMismatch, RetrievalFormatError) as exc:
            print(f"zkgate retrieve: {exc}", file=sys.stderr)
            return EXIT_REJECTED
        (args.out / REQUESTER_FILE).write_text(retrieval.record.to_json(), encoding="utf-8")
        (args.out / RESULT_FILE).write_text(retrieval.result.to_json(), encoding="utf-8")
        bundle = client.bundle(retrieval.statement.predicate_model)
        bundle.save(args.out / BUNDLE_DIRECTORY)
        print(f"result, your record and the predicate's bundle written to {args.out}")
        return _verify_and_report(
            args, args.out, retrieval, dataset, predicate, bundle, client.gateway_key()
        )


def run_verify_retrieval(args: argparse.Namespace) -> int:
    try:
        dataset, predicate = _check_inputs(args)
        key = gateway_key_argument(args.gateway_key)
        bundle = VerifierBundle.load(args.directory / BUNDLE_DIRECTORY)
        retrieval = Retrieval(
            record=RequesterRecord.from_json(
                read_input(args.directory / REQUESTER_FILE, "requester record")
            ),
            result=RetrievalResult.from_json(read_input(args.directory / RESULT_FILE, "result")),
        )
    except (InputError, BundleError, RetrievalFormatError) as exc:
        print(f"zkgate verify-retrieval: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return _verify_and_report(args, args.directory, retrieval, dataset, predicate, bundle, key)


def _verify_and_report(
    args: argparse.Namespace,
    directory: Path,
    retrieval: Retrieval,
    dataset: DatasetStatement,
    predicate: bytes,
    bundle: VerifierBundle,
    gateway_key: bytes,
) -> int:
    try:
        verified = verify_retrieval(
            retrieval,
            dataset,
            predicate,
            bundle,
            srs_path=args.srs,
            gateway_public_key=gateway_key,
            allow_insecure_srs=args.allow_insecure_srs,
            trusted_srs_identities=args.trust_srs,
        )
    except RetrievalError as exc:
        print(f"REJECTED ({exc.reason}): {exc.detail}", file=sys.stderr)
        return EXIT_REJECTED
    _report(verified, directory)
    return EXIT_VERIFIED
