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
from pathlib import Path

import numpy as np

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
from zkgate.core.protocols.retrieval import (
    DatasetStatement,
    RequesterRecord,
    Retrieval,
    RetrievalFormatError,
    RetrievalResult,
)

RESULT_FILE = "result.json"
REQUESTER_FILE = "requester.json"
BUNDLE_DIRECTORY = "bundle"


def _check_inputs(args: argparse.Namespace) -> tuple[DatasetStatement, bytes]:
    """The dataset statement and the predicate ONNX; the SRS file must at least exist."""
    if not args.srs.is_file():
        raise InputError(f"SRS file {args.srs} does not exist")
    try:
        dataset = DatasetStatement.from_json(read_input(args.dataset, "dataset statement"))
    except AttestationError as exc:
        raise InputError(f"{args.dataset}: {exc}") from exc
    return dataset, read_input(args.predicate, "predicate ONNX")


def _report(output: CommandOutput, verified: VerifiedRetrieval, directory: Path) -> None:
    checks = output.checks(verified.checks)
    indices = [index for index, _ in verified.matches]
    records = [record for _, record in verified.matches]
    if records:
        np.save(directory / "matches.npy", np.stack(records), allow_pickle=False)
    (directory / "match_indices.json").write_text(json.dumps(indices), encoding="utf-8")
    output.set(
        checks=checks,
        verified=True,
        match_indices=indices,
        dataset_size=verified.dataset_size,
        left_out=verified.left_out,
        sampled=len(verified.sampled),
        detection_probability=verified.detection_probability(1),
        directory=str(directory),
    )
    output.say(
        f"VERIFIED: {len(indices)} of {verified.dataset_size} records match, written to "
        f"{directory}; {len(verified.sampled)} of {verified.left_out} left-out records proven "
        f"non-matching (one omitted match would have been drawn with probability "
        f"{len(verified.sampled)}/{verified.left_out} = {verified.detection_probability(1):.3f})"
    )


def run_commit(args: argparse.Namespace) -> int:
    output = output_of(args)
    try:
        dataset = Dataset.from_npy(read_input(args.records, "records file"))
    except (InputError, RowsError) as exc:
        output.error(f"zkgate datasets commit: {exc}")
        return EXIT_BAD_INPUT
    with connect(args.target, args) as client:
        try:
            dataset_id, statement = client.commit_dataset(args.name, dataset)
        except AttestationError as exc:
            output.error(f"zkgate datasets commit: {exc}")
            return EXIT_REJECTED
    args.out.write_text(statement.to_json(), encoding="utf-8")
    output.say(f"dataset {dataset_id}: root {statement.root}, {statement.size} records")
    output.set(dataset_id=dataset_id, root=statement.root, size=statement.size, out=str(args.out))
    return EXIT_VERIFIED


def run_fetch(args: argparse.Namespace) -> int:
    output = output_of(args)
    with connect(args.target, args) as client:
        try:
            statement = client.dataset(args.dataset_id)
        except AttestationError as exc:
            output.error(f"zkgate datasets fetch: {exc}")
            return EXIT_REJECTED
    args.out.write_text(statement.to_json(), encoding="utf-8")
    output.say(f"dataset {statement.name!r}: root {statement.root}, {statement.size} records")
    output.set(name=statement.name, root=statement.root, size=statement.size, out=str(args.out))
    return EXIT_VERIFIED


def run_retrieve(args: argparse.Namespace) -> int:
    output = output_of(args)
    try:
        dataset, predicate = _check_inputs(args)
        args.out.mkdir(parents=True, exist_ok=True)
    except InputError as exc:
        output.error(f"zkgate retrieve: {exc}")
        return EXIT_BAD_INPUT
    except OSError as exc:
        output.error(f"zkgate retrieve: cannot write to {args.out}: {exc.strerror}")
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
            output.error(f"zkgate retrieve: {exc}")
            return EXIT_REJECTED
        (args.out / REQUESTER_FILE).write_text(retrieval.record.to_json(), encoding="utf-8")
        (args.out / RESULT_FILE).write_text(retrieval.result.to_json(), encoding="utf-8")
        bundle = client.bundle(retrieval.statement.predicate_model)
        bundle.save(args.out / BUNDLE_DIRECTORY)
        output.say(f"result, your record and the predicate's bundle written to {args.out}")
        return _verify_and_report(
            args, args.out, retrieval, dataset, predicate, bundle, client.gateway_key()
        )


def run_verify_retrieval(args: argparse.Namespace) -> int:
    output = output_of(args)
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
        output.error(f"zkgate verify-retrieval: {exc}")
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
        output_of(args).error(f"REJECTED ({exc.reason}): {exc.detail}")
        return EXIT_REJECTED
    _report(output_of(args), verified, directory)
    return EXIT_VERIFIED
