"""`zkgate datasets commit|fetch`, `zkgate retrieve` and `zkgate verify-retrieval`'s arguments;
the handlers are in zkgate.client.cli.retrieval."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zkgate.client.cli.gateway_options import with_target
from zkgate.client.cli.output import add_json_option
from zkgate.client.cli.trust_arguments import add_gateway_key_argument, add_srs_trust_arguments
from zkgate.core.command_loading import lazy_handler
from zkgate.core.protocols.limits import DEFAULT_OMISSION_SAMPLE, MAX_RETRIEVAL_PROOFS
from zkgate.core.protocols.predicate import (
    DEFAULT_PREDICATE_SCALE,
    MAX_PREDICATE_SCALE,
    MIN_PREDICATE_SCALE,
)

_HANDLERS = "zkgate.client.cli.retrieval"


def add_retrieval_commands(subparsers: Any) -> None:
    """`datasets commit|fetch`, `retrieve` and `verify-retrieval`."""
    _add_datasets_commands(subparsers)
    _add_retrieve_command(subparsers)
    check = subparsers.add_parser(
        "verify-retrieval",
        help="check a retrieval directory offline",
        description="Exit 0: verified; 1: rejected; 2: unreadable input.",
    )
    check.add_argument("directory", type=Path, help="the directory `zkgate retrieve` wrote")
    _add_check_arguments(check)
    add_gateway_key_argument(check)
    add_json_option(check)
    check.set_defaults(func=lazy_handler(f"{_HANDLERS}:run_verify_retrieval"))


def _add_datasets_commands(subparsers: Any) -> None:
    datasets = subparsers.add_parser(
        "datasets", help="commit to and fetch datasets for trustless retrieval"
    ).add_subparsers(dest="datasets_command", required=True)
    commit = with_target(
        datasets.add_parser("commit", help="commit to a dataset (responder side, admin key)")
    )
    commit.add_argument("name", help="the dataset's name")
    commit.add_argument("records", type=Path, help=".npy float32 (N, *predicate input shape)")
    commit.add_argument("--out", type=Path, required=True, help="where the signed statement goes")
    add_json_option(commit)
    commit.set_defaults(func=lazy_handler(f"{_HANDLERS}:run_commit"))
    fetch = with_target(
        datasets.add_parser(
            "fetch", help="save a dataset's signed statement; do it before sending a predicate"
        )
    )
    fetch.add_argument("dataset_id", help="the id `datasets commit` printed")
    fetch.add_argument("--out", type=Path, required=True, help="where the signed statement goes")
    add_json_option(fetch)
    fetch.set_defaults(func=lazy_handler(f"{_HANDLERS}:run_fetch"))


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
    retrieve.add_argument("dataset_id", help="the id of the dataset to query")
    _add_check_arguments(retrieve)
    retrieve.add_argument(
        "--sample-size",
        type=_bounded_int(1, MAX_RETRIEVAL_PROOFS),
        default=DEFAULT_OMISSION_SAMPLE,
        help="left-out records to prove non-matching (default: %(default)s, which catches a 5%% "
        "omission rate with 95%% confidence)",
    )
    retrieve.add_argument(
        "--scale",
        type=_bounded_int(MIN_PREDICATE_SCALE, MAX_PREDICATE_SCALE),
        default=DEFAULT_PREDICATE_SCALE,
        help="bits after the point the predicate is compiled at, for records and weights "
        "(default: %(default)s); its proofs are refused at any other",
    )
    retrieve.add_argument("--out", type=Path, required=True, help="the retrieval directory")
    add_json_option(retrieve)
    retrieve.set_defaults(func=lazy_handler(f"{_HANDLERS}:run_retrieve"))


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
