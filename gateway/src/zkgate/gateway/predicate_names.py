"""Model names kept for retrieval predicates: circuits a tenant registers for itself.

A predicate is a tenant's query, and its card names the hash of its ONNX, so it is listed only
to the tenant that registered it and its names are never taken by an ordinary registration. The
base service keeps that rule; the retrieval protocol names its predicates by it.
"""

from __future__ import annotations

from zkgate.core.canonical import framed_digest, sha256_hex
from zkgate.gateway.access_control import PermissionDenied, Tenant
from zkgate.gateway.errors import InvalidRequest

PREDICATE_PREFIX = "predicate-"
_PREDICATE_TENANT_DOMAIN = "zkgate.retrieval.predicate-tenant/1"
_PREDICATE_NAME_DOMAIN = "zkgate.retrieval.predicate-name/2"


def tenant_predicate_prefix(tenant: Tenant) -> str:
    """Where a tenant's predicate names start: the name says whose it is, so listing needs no
    lookup, and it says so without spelling out the tenant's name."""
    tenant_tag = framed_digest(_PREDICATE_TENANT_DOMAIN, [tenant.name.encode("utf-8")])[:16]
    return f"{PREDICATE_PREFIX}{tenant_tag}-"


def predicate_name(tenant: Tenant, onnx: bytes, dataset_id: str, scale: int) -> str:
    """One name per tenant, ONNX, dataset and scale: asking again finds the same predicate, and
    the same ONNX at another scale is another circuit."""
    digest = framed_digest(
        _PREDICATE_NAME_DOMAIN,
        [sha256_hex(onnx).encode(), dataset_id.encode(), str(scale).encode()],
    )
    return tenant_predicate_prefix(tenant) + digest[:32]


def check_registrant(name: str, tenant: Tenant, *, admin_only: bool) -> None:
    """Models served to everyone are registered by admins, under names no predicate can take;
    `admin_only=False` is for the circuits a tenant brings for itself."""
    if admin_only and not tenant.admin:
        raise PermissionDenied(
            f"tenant {tenant.name!r} may not register models: that takes an admin key"
        )
    if admin_only and name.startswith(PREDICATE_PREFIX):
        raise InvalidRequest(
            f"model names starting with {PREDICATE_PREFIX!r} are kept for retrieval "
            "predicates; choose another name"
        )
