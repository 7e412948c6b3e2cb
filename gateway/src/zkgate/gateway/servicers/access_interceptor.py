"""The gRPC edge of access control: every call but health and reflection must name a tenant.

The interceptor checks the API key and the tenant's rate before the handler runs, and makes the
tenant available to servicers through `access.current_tenant`, so domain code is handed a tenant
and never reads gRPC metadata itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection

from zkgate.gateway.access import (
    AccessControl,
    RateLimited,
    Tenant,
    Unauthenticated,
    current_tenant,
)

# Probes and service discovery must work without credentials.
_OPEN_SERVICES = (health.SERVICE_NAME, reflection.SERVICE_NAME)


class AccessInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, access: AccessControl) -> None:
        self._access = access

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.lstrip("/").startswith(_OPEN_SERVICES):
            return handler
        metadata = tuple(handler_call_details.invocation_metadata or ())
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, metadata),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, metadata),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    async def _admit(
        self, metadata: tuple[Any, ...], context: grpc.aio.ServicerContext[Any, Any]
    ) -> Tenant:
        try:
            return self._access.admit(metadata)
        except Unauthenticated as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        except RateLimited as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        raise AssertionError("unreachable: abort raises")

    def _unary(self, behavior: Any, metadata: tuple[Any, ...]) -> Any:
        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            token = current_tenant.set(await self._admit(metadata, context))
            try:
                return await behavior(request, context)
            finally:
                current_tenant.reset(token)

        return call

    def _stream(self, behavior: Any, metadata: tuple[Any, ...]) -> Any:
        async def call(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            token = current_tenant.set(await self._admit(metadata, context))
            try:
                async for item in behavior(request, context):
                    yield item
            finally:
                current_tenant.reset(token)

        return call
