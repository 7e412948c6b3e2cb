"""How the commands that talk to a gateway find and reach it: its address, the job timeout, TLS
files and the tenant's API key, each also from the environment."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkgate.client.cli.arguments import positive_seconds
from zkgate.client.cli.output import add_json_option
from zkgate.core.command_loading import lazy_handler

if TYPE_CHECKING:
    from zkgate.client.client import Client

DEFAULT_TARGET = "127.0.0.1:8001"


def gateway_subcommand(
    group: Any, name: str, handler: str, **kwargs: Any
) -> argparse.ArgumentParser:
    """A subcommand (of `models`, `jobs`, ...) that talks to a gateway and can answer in JSON;
    handler is "module:function", imported only when the subcommand runs."""
    parser = add_json_option(with_target(group.add_parser(name, **kwargs)))
    parser.set_defaults(func=lazy_handler(handler))
    return parser


def with_target(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Gives a command the gateway's address, the job timeout and the connection arguments."""
    parser.add_argument(
        "--target",
        default=os.environ.get("ZKGATE_TARGET", DEFAULT_TARGET),
        help=f"gateway address (env ZKGATE_TARGET, default {DEFAULT_TARGET})",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=900.0,
        help="seconds to wait for proof and registration jobs",
    )
    add_connection_arguments(parser)
    return parser


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """TLS files and the API key file; each also from the environment. The key itself is never
    a flag: command lines show up in `ps` and shell history."""
    env = os.environ
    parser.add_argument(
        "--api-key-file",
        type=Path,
        default=env.get("ZKGATE_API_KEY_FILE"),
        help="file holding the tenant's API key (env ZKGATE_API_KEY_FILE, or the key itself in "
        "ZKGATE_API_KEY)",
    )
    for name, what in (
        ("ca", "CA certificate of the gateway"),
        ("cert", "client certificate"),
        ("key", "client certificate's key"),
    ):
        variable = f"ZKGATE_TLS_{name.upper()}_FILE"
        parser.add_argument(
            f"--tls-{name}-file",
            type=Path,
            default=env.get(variable),
            help=f"PEM {what}; any TLS flag turns TLS on (env {variable})",
        )


def connect(target: str, args: argparse.Namespace) -> Client:
    """The client, imported here and not with the parser: it brings in grpc."""
    from zkgate.client.channel import TlsSettings
    from zkgate.client.client import Client

    api_key = os.environ.get("ZKGATE_API_KEY")
    if args.api_key_file:
        api_key = Path(args.api_key_file).read_text().strip()
    files = (args.tls_ca_file, args.tls_cert_file, args.tls_key_file)
    tls = None
    if any(files):
        tls = TlsSettings(*(Path(f) if f else None for f in files))
    # The CLI retries what a retry can fix (UNAVAILABLE; RESOURCE_EXHAUSTED after the gateway's
    # "retry in N ms"): a script gets the answer, not a transient failure.
    return Client(target, tls=tls, api_key=api_key, retries=True)
