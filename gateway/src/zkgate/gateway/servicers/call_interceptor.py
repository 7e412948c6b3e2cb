"""A server interceptor that runs code around every call: the one shape the access and metrics
interceptors share.

grpc.aio interceptors see only the method name and metadata; to act on the request, its context
and its outcome they must replace the handler with one that wraps its behaviour. Subclasses give
that wrapping as an async context manager (`around`), applied alike to unary and server-streaming
calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import grpc
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection

Context = grpc.aio.ServicerContext[Any, Any]
# Probes and service discovery: open to all and not worth observing.
INFRASTRUCTURE_SERVICES = (health.SERVICE_NAME, reflection.SERVICE_NAME)


class CallInterceptor(grpc.aio.ServerInterceptor):
    def around(
        self, service: str, method: str, metadata: tuple[Any, ...], request: Any, context: Context
    ) -> AbstractAsyncContextManager[None]:
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        path: str = handler_call_details.method
        service, _, method = path.lstrip("/").rpartition("/")
        if handler is None or service.startswith(INFRASTRUCTURE_SERVICES):
            return handler
        metadata = tuple(handler_call_details.invocation_metadata or ())
        if handler.unary_unary is not None:
            unary: Any = handler.unary_unary

            async def call(request: Any, context: Context) -> Any:
                async with self.around(service, method, metadata, request, context):
                    return await unary(request, context)

            return grpc.unary_unary_rpc_method_handler(
                call,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            stream: Any = handler.unary_stream

            async def stream_call(request: Any, context: Context) -> AsyncIterator[Any]:
                async with self.around(service, method, metadata, request, context):
                    async for item in stream(request, context):
                        yield item

            return grpc.unary_stream_rpc_method_handler(
                stream_call,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler
