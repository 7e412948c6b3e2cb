"""`zkgate srs-identity`: the identity to trust for an SRS file you hold, such as a ceremony
file, with its size and hash."""

from __future__ import annotations

import argparse

from zkgate.client.cli.output import output_of
from zkgate.core.srs import file_sha256, srs_identity, srs_logrows, verifier_slice


def cmd_srs_identity(args: argparse.Namespace) -> int:
    data = args.file.read_bytes()
    found = {
        "identity": srs_identity(verifier_slice(data)),
        "logrows": srs_logrows(data),
        "sha256": file_sha256(args.file),
    }
    output = output_of(args)
    for name, value in found.items():
        output.say(f"{name:<10} {value}")
    output.set(**found)
    return 0
