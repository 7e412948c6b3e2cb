"""Opening a channel to a gateway: plaintext or TLS (mTLS with a client certificate), with the
tenant's API key sent on every call, and optionally gRPC's own retries.

The key travels in the `authorization` metadata as a bearer token; over plaintext anyone on the
path can read it, so outside a loopback or private network use TLS.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

# gRPC's retry policy (gRFC A6), for every method: UNAVAILABLE (a gateway restarting, its
# database out of reach) and RESOURCE_EXHAUSTED (a tenant over its rate, a full queue) are tried
# again, up to MAX_ATTEMPTS in all and within the call's deadline. A gateway that knows when a
# retry will be admitted says so in the `grpc-retry-pushback-ms` trailer ("retry in 293 ms"),
# and gRPC waits exactly that; otherwise it backs off exponentially. A request larger than
# gRPC's per-call retry buffer (256 KiB: an ONNX upload) is sent once.
MAX_ATTEMPTS = 5
RETRY_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": MAX_ATTEMPTS,
                    "initialBackoff": "0.2s",
                    "maxBackoff": "5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
                },
            }
        ]
    }
)
RETRY_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.enable_retries", 1),
    ("grpc.service_config", RETRY_SERVICE_CONFIG),
)


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
    retries: bool = False,
) -> grpc.Channel:
    """`retries`: gRPC's retry policy above (the CLI turns it on; a library caller decides)."""
    if retries:
        options = [*options, *RETRY_OPTIONS]
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
