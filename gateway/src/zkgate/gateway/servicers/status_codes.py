"""Mapping of domain failures to gRPC status codes, in one place for every servicer.

A caller gets the code that tells it what kind of mistake it made and the domain error's message,
which says how to fix it; anything unmapped is a bug and is logged in full before the caller
sees INTERNAL.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

import grpc

from zkgate.core.tensors import TensorError
from zkgate.gateway.access_control import PermissionDenied, RateLimited, Unauthenticated
from zkgate.gateway.errors import (
    FailedPrecondition,
    InvalidRequest,
    NotFound,
    NotReady,
    ProofsDisabled,
)
from zkgate.prover.queue.catalog import ModelExists
from zkgate.prover.queue.jobs import QueueFull
from zkgate.prover.queue.provers import NoProverCanHold
from zkgate.prover.queue.sql_session import DatabaseUnavailable

log = logging.getLogger("zkgate.gateway")

# Longer than any message the gateway writes itself; percent-encoded at worst 3 KiB.
MAX_STATUS_MESSAGE_BYTES = 1024
_CUT = "… (cut)"

_CODES: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (TensorError, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (NotReady, grpc.StatusCode.FAILED_PRECONDITION),
    (ProofsDisabled, grpc.StatusCode.FAILED_PRECONDITION),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (ModelExists, grpc.StatusCode.ALREADY_EXISTS),
    (QueueFull, grpc.StatusCode.RESOURCE_EXHAUSTED),
    # The request is sound but no live prover is large enough; unlike a full queue or a rate
    # limit, waiting and retrying does not help until an operator adds a larger prover.
    (NoProverCanHold, grpc.StatusCode.FAILED_PRECONDITION),
    # A database restarting or out of reach: the caller should retry in a moment.
    (DatabaseUnavailable, grpc.StatusCode.UNAVAILABLE),
    (RateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
)


def status_message(exc: BaseException) -> str:
    """The exception's message, cut to MAX_STATUS_MESSAGE_BYTES of UTF-8. It travels in the
    grpc-message trailer, percent-encoded (up to three bytes per byte), and clients refuse
    trailers over 8 KiB by default: an error quoting a megabyte of request would reach the
    caller as RESOURCE_EXHAUSTED "Stream removed" instead of the error."""
    encoded = str(exc).encode("utf-8")
    if len(encoded) <= MAX_STATUS_MESSAGE_BYTES:
        return str(exc)
    kept = encoded[: MAX_STATUS_MESSAGE_BYTES - len(_CUT.encode("utf-8"))]
    return kept.decode("utf-8", errors="ignore") + _CUT


def status_for(exc: BaseException) -> grpc.StatusCode:
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


async def abort(context: grpc.aio.ServicerContext[Any, Any], exc: Exception) -> None:
    """Ends the call with the status and message the table gives exc."""
    code = status_for(exc)
    if code == grpc.StatusCode.INTERNAL:
        log.exception("unexpected error in RPC handler")
        await context.abort(code, f"internal error ({type(exc).__name__}); see gateway logs")
    await context.abort(code, status_message(exc), trailing_metadata=retry_trailer(exc))


# gRPC's name for "retry after this many milliseconds": a client whose retry policy lists the
# status code waits that long before its next attempt (gRFC A6, server pushback).
RETRY_PUSHBACK_TRAILER = "grpc-retry-pushback-ms"


def retry_trailer(exc: BaseException) -> tuple[tuple[str, str], ...]:
    """The pushback trailer of an error that knows when a retry would succeed (a rate limit)."""
    retry_after_ms = getattr(exc, "retry_after_ms", None)
    if retry_after_ms is None:
        return ()
    return ((RETRY_PUSHBACK_TRAILER, str(int(retry_after_ms))),)


F = TypeVar("F", bound=Callable[..., Any])


def grpc_errors(method: F) -> F:
    """Wraps a unary or server-streaming aio handler so domain errors become statuses."""
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
            try:
                async for item in method(self, request, context):
                    yield item
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await abort(context, exc)

        return cast(F, stream)

    @functools.wraps(method)
    async def unary(self: Any, request: Any, context: Any) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await abort(context, exc)

    return cast(F, unary)
