"""The services a server registers, recorded as they are added, for health and reflection.

A list kept by hand beside the registrations drifts: RetrievalService was served for a while
without reflection listing it. Registering through this recorder makes the list a by-product of
registering, so health reports and reflection describe exactly what is served.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import grpc
from google.protobuf import descriptor_pool


class ServiceRegistry:
    """Stands in for the server in the generated `add_*_to_server` functions."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server
        self.names: list[str] = []

    def as_server(self) -> grpc.aio.Server:
        """This recorder, typed as what the generated functions take; they call only the two
        methods below."""
        return cast(grpc.aio.Server, self)

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        for handler in handlers:
            # grpc.method_handlers_generic_handler, which every generated stub and our own
            # OIP handler use, names its service; a handler without a name cannot be listed.
            name = getattr(handler, "service_name", None)
            if name is None:
                raise TypeError(f"{handler!r} does not name its service; it cannot be listed")
            self.names.append(str(name()))
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self._server.add_registered_method_handlers(service, dict(handlers))

    def described(self) -> list[str]:
        """The registered services that reflection can describe: those whose descriptors are
        in the default pool (not the OIP spec's name, served from our own messages)."""
        pool = descriptor_pool.Default()
        found = []
        for name in self.names:
            try:
                pool.FindServiceByName(name)
            except KeyError:
                continue
            found.append(name)
        return found
