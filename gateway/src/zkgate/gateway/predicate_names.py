"""Model names kept for retrieval predicates: circuits a tenant registers for itself.

A predicate is a tenant's query, and its card names the hash of its ONNX, so it is listed only
to the tenant that registered it and its names are never taken by an ordinary registration. The
base service keeps that rule; the retrieval protocol names its predicates by it.
"""

from __future__ import annotations

from zkgate.core.canonical import framed_digest, sha256_hex
from zkgate.gateway.access_control import Tenant

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
