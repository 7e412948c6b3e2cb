"""Failures the gateway's domain code reports, each naming what the caller can do about it.

Domain code raises these (or the client/prover library errors they wrap); only the servicer
layer turns them into gRPC status codes, so the domain stays free of gRPC.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of the gateway's own domain errors."""


class InvalidRequest(GatewayError):
    """The request itself is wrong: shape, dtype, size, a malformed field."""


class NotFound(GatewayError):
    """No such model or job."""


class NotReady(GatewayError):
    """The model exists but cannot serve yet (registering) or failed to register."""


class FailedPrecondition(GatewayError):
    """The request is well formed but needs an earlier step first (the message names it)."""


class ProofsDisabled(GatewayError):
    """A proof was asked for, but the model's policy is `never`."""
