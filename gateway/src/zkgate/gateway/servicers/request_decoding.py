"""Requests that do not decode are the caller's mistake: INVALID_ARGUMENT, on every method.

gRPC decodes a request before any handler or interceptor sees it, and a failure there reaches
the caller as UNKNOWN ("Exception deserializing request!"), which reads like a server fault
and names nothing. This interceptor takes decoding over for every method, whatever registered
it: the method's handler gets raw bytes from gRPC and decodes them itself with the method's own
deserializer, so that a failure can be answered with the right code and the message type.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

Context = grpc.aio.ServicerContext[Any, Any]
Deserializer = Callable[[bytes], Any]


def _type_name(deserializer: Deserializer) -> str:
    """The message type a generated deserializer (`SomeMessage.FromString`) reads."""
    descriptor = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)
    return str(getattr(descriptor, "full_name", "request message"))


class _Decoder:
    def __init__(self, deserializer: Deserializer) -> None:
        self._deserializer = deserializer
        self._type = _type_name(deserializer)

    async def one(self, raw: bytes, context: Context) -> Any:
        try:
            return self._deserializer(raw)
        except Exception as exc:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request is not a valid {self._type}: {exc}; send a serialized {self._type}",
            )

    async def many(self, raws: AsyncIterable[bytes], context: Context) -> AsyncIterator[Any]:
        """For handlers that read their requests from the iterator they are given (reflection
        does); one reading through context.read() would see raw bytes."""
        return (await self.one(raw, context) async for raw in raws)


def _decoding(
    behavior: Any, prepare: Callable[[Any, Context], Awaitable[Any]], streaming_response: bool
) -> Any:
    """behavior, called with what prepare makes of the raw request (or request stream)."""
    if streaming_response and inspect.isasyncgenfunction(behavior):

        async def stream(raw: Any, context: Context) -> AsyncIterator[Any]:
            async for item in behavior(await prepare(raw, context), context):
                yield item

        return stream

    async def unary(raw: Any, context: Context) -> Any:
        return await behavior(await prepare(raw, context), context)

    return unary


def decoding_handler(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    """The same method, decoding its own requests."""
    if handler.request_deserializer is None:
        return handler
    decoder = _Decoder(handler.request_deserializer)
    serializer = handler.response_serializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _decoding(handler.unary_unary, decoder.one, False), response_serializer=serializer
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _decoding(handler.unary_stream, decoder.one, True), response_serializer=serializer
        )
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            _decoding(handler.stream_unary, decoder.many, False), response_serializer=serializer
        )
    return grpc.stream_stream_rpc_method_handler(
        _decoding(handler.stream_stream, decoder.many, True), response_serializer=serializer
    )


class RequestDecodingInterceptor(grpc.aio.ServerInterceptor):
    """First of the server's interceptors, so that the others see decoded requests (metrics
    label calls by the model a request names), as they would without it."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        return None if handler is None else decoding_handler(handler)
