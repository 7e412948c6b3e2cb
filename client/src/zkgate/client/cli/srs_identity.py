"""`zkgate srs-identity`: the identity to trust for an SRS file you hold, such as a ceremony
file, with its size and hash."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from zkgate.core.srs import file_sha256, srs_identity, srs_logrows, verifier_slice


def add_srs_identity_command(subparsers: Any) -> None:
    srs = subparsers.add_parser(
        "srs-identity",
        help="the identity to trust (--trust-srs) for an SRS file you hold, e.g. a ceremony file",
    )
    srs.add_argument("file", type=Path)
    srs.set_defaults(func=cmd_srs_identity)


def cmd_srs_identity(args: argparse.Namespace) -> int:
    data = args.file.read_bytes()
    print(f"identity   {srs_identity(verifier_slice(data))}")
    print(f"logrows    {srs_logrows(data)}")
    print(f"sha256     {file_sha256(args.file)}")
    return 0
