"""Opening a channel to a gateway: plaintext or TLS (mTLS with a client certificate), with the
tenant's API key sent on every call.

The key travels in the `authorization` metadata as a bearer token; over plaintext anyone on the
path can read it, so outside a loopback or private network use TLS.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc


@dataclass(frozen=True)
class TlsSettings:
    # CA that signed the gateway's certificate; None: the system's trust store.
    ca_file: Path | None = None
    # Client certificate chain and key, for a gateway that requires mTLS.
    cert_file: Path | None = None
    key_file: Path | None = None


class _CallDetails(
    collections.namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready")
    ),
    grpc.ClientCallDetails,
):
    pass


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    def __init__(self, api_key: str) -> None:
        self._header = ("authorization", f"Bearer {api_key}")

    def _with_key(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata: Sequence[tuple[str, str | bytes]] = tuple(details.metadata or ())
        return _CallDetails(
            details.method,
            details.timeout,
            (*metadata, self._header),
            details.credentials,
            getattr(details, "wait_for_ready", None),
        )

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._with_key(details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._with_key(details), request)


def open_channel(
    target: str,
    *,
    options: Sequence[tuple[str, Any]],
    tls: TlsSettings | None = None,
    api_key: str | None = None,
) -> grpc.Channel:
    if tls is None:
        channel = grpc.insecure_channel(target, options=options)
    else:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read_optional(tls.ca_file),
            private_key=_read_optional(tls.key_file),
            certificate_chain=_read_optional(tls.cert_file),
        )
        channel = grpc.secure_channel(target, credentials, options=options)
    if api_key:
        return grpc.intercept_channel(channel, _BearerToken(api_key))
    return channel


def _read_optional(path: Path | None) -> bytes | None:
    return path.read_bytes() if path is not None else None
