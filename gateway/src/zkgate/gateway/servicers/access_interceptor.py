"""The gRPC edge of access control: every call but health and reflection must name a tenant.

The interceptor checks the API key and the tenant's rate before the handler runs, and makes the
tenant available to servicers through `access.current_tenant`, so domain code is handed a tenant
and never reads gRPC metadata itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc

from zkgate.gateway.access import AccessControl, RateLimited, Unauthenticated, current_tenant
from zkgate.gateway.servicers.call_interceptor import CallInterceptor, Context


class AccessInterceptor(CallInterceptor):
    def __init__(self, access: AccessControl) -> None:
        self._access = access

    @asynccontextmanager
    async def around(
        self, service: str, method: str, metadata: tuple[Any, ...], request: Any, context: Context
    ) -> AsyncIterator[None]:
        try:
            tenant = self._access.admit(metadata)
        except Unauthenticated as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        except RateLimited as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        token = current_tenant.set(tenant)
        try:
            yield
        finally:
            current_tenant.reset(token)
