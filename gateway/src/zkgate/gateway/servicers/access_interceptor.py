"""The gRPC edge of access control: every call but health and reflection must name a tenant.

The interceptor checks the API key and the tenant's rate before the handler runs, and makes the
tenant available to servicers through `access_control.current_tenant`, so domain code is handed
a tenant and never reads gRPC metadata itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from zkgate.gateway.access_control import (
    AccessControl,
    RateLimited,
    Unauthenticated,
    current_tenant,
)
from zkgate.gateway.servicers.call_interceptor import CallInterceptor, Context
from zkgate.gateway.servicers.status_codes import abort


class AccessInterceptor(CallInterceptor):
    def __init__(self, access: AccessControl) -> None:
        self._access = access

    @asynccontextmanager
    async def around(
        self, service: str, method: str, metadata: tuple[Any, ...], request: Any, context: Context
    ) -> AsyncIterator[None]:
        try:
            tenant = self._access.admit(metadata, method)
        except (Unauthenticated, RateLimited) as exc:
            await abort(context, exc)
        token = current_tenant.set(tenant)
        try:
            yield
        finally:
            current_tenant.reset(token)
