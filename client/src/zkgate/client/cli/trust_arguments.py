"""The arguments every checking command takes for what it trusts: the gateway's pinned key (for
offline checks) and the SRS its proofs may be made under."""

from __future__ import annotations

import argparse
from pathlib import Path

from zkgate.client.cli.arguments import hex_digest
from zkgate.client.cli.exit_codes import InputError, read_input


def add_gateway_key_argument(parser: argparse.ArgumentParser) -> None:
    """For offline checks: the key is the caller's pin, read with `gateway_key_argument`."""
    parser.add_argument(
        "--gateway-key",
        required=True,
        help="the gateway's Ed25519 public key: 64 hex digits, or @FILE holding them",
    )


def add_srs_trust_arguments(parser: argparse.ArgumentParser) -> None:
    """Which SRS a command's proofs may be made under: `args.allow_insecure_srs` and
    `args.trust_srs`, as `verify` and every protocol command take them."""
    parser.add_argument(
        "--allow-insecure-srs",
        action="store_true",
        help="accept an untrusted SRS, such as a provider-generated development one (its maker "
        "could forge proofs)",
    )
    parser.add_argument(
        "--trust-srs",
        action="append",
        type=hex_digest,
        default=[],
        metavar="ID",
        help="an SRS identity (hex, `zkgate srs-identity FILE`) to trust; may be repeated",
    )


def gateway_key_argument(argument: str) -> bytes:
    if argument.startswith("@"):
        text = read_input(Path(argument[1:]), "gateway key file").decode("utf-8", errors="replace")
    else:
        text = argument
    try:
        key = bytes.fromhex(text.strip())
    except ValueError as exc:
        raise InputError(f"gateway key is not hex: {exc}") from exc
    if len(key) != 32:
        raise InputError(f"gateway key must be 32 bytes (64 hex digits), got {len(key)}")
    return key
