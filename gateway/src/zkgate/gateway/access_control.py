"""Who is calling and how much they may do: API keys mapped to tenants, rates and quotas.

The gateway never stores API keys, only their SHA-256: a leaked tenants file does not let anyone
call as a tenant. Keys are long random strings, so a plain hash (no salt, no stretching) is
enough. With no tenants file, access control is off and every caller is the one anonymous
tenant: the embedded single-machine default.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zkgate.gateway.errors import GatewayError

AUTHORIZATION_HEADER = "authorization"
BEARER = "bearer "


class Unauthenticated(GatewayError):
    """No API key, or one no tenant holds."""


class PermissionDenied(GatewayError):
    """A known tenant asking for something that is not theirs, or not theirs to do."""


class RateLimited(GatewayError):
    """The tenant is over its request rate or its queue quota. `retry_after_ms`, when known, is
    how long until a retry would be admitted: gRPC callers get it as the
    `grpc-retry-pushback-ms` trailer, which gRPC's own retry policy waits for."""

    def __init__(self, message: str, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


@dataclass(frozen=True)
class Tenant:
    name: str
    # May register models; other tenants only use them.
    admin: bool = False
    requests_per_second: float = math.inf
    burst: int = 1
    # Proof jobs this tenant may have queued at once (0: no limit beyond the gateway's own).
    max_queued_jobs: int = 0


# Reads of the catalogue and of the caller's own jobs and results: what a client does around an
# inference (the card for its input dtypes, the bundle, polling the proof job). They draw from a
# budget of their own, READ_BUDGET_FACTOR times the tenant's rate and burst, so one `zkgate
# infer` spends one token of the tenant's request rate, and a client polling its jobs cannot
# starve its own inferences; the reads are still bounded.
READ_ONLY_METHODS = frozenset(
    {
        "GetModel",
        "ListModels",
        "GetVerifierBundle",
        "GetServerIdentity",
        "GetJob",
        "WatchJob",
        "ListJobs",
        "GetLearningReport",
        "GetEvaluation",
        "GetDataset",
        "GetRetrieval",
        "ServerLive",
        "ServerReady",
        "ModelReady",
        "ServerMetadata",
        "ModelMetadata",
    }
)
READ_BUDGET_FACTOR = 10

# Access control off: one tenant, allowed everything, no limits.
ANONYMOUS = Tenant(name="", admin=True)
current_tenant: ContextVar[Tenant] = ContextVar("zkgate_tenant", default=ANONYMOUS)


@dataclass
class TenantDirectory:
    by_key_digest: dict[str, Tenant]

    @classmethod
    def load(cls, path: Path) -> TenantDirectory:
        """JSON: {"tenants": [{"name", "key_sha256": [hex, ...], "admin", "requests_per_second",
        "burst", "max_queued_jobs"}]}. Several keys per tenant allow rotation without downtime."""
        try:
            raw = json.loads(path.read_text())
            entries = raw["tenants"]
            if not isinstance(entries, list):
                raise TypeError("'tenants' must be a list")
            directory: dict[str, Tenant] = {}
            for entry in entries:
                tenant = _tenant(entry)
                for digest in entry["key_sha256"]:
                    digest = str(digest).lower()
                    if len(digest) != 64 or digest in directory:
                        raise ValueError(f"key digest {digest[:16]}... is malformed or reused")
                    directory[digest] = tenant
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"tenants file {path}: {exc}") from exc
        return cls(by_key_digest=directory)

    def authenticate(self, api_key: str | None) -> Tenant:
        if not api_key:
            raise Unauthenticated(
                "this gateway requires an API key: send metadata `authorization: Bearer <key>` "
                "(zkgate CLI: ZKGATE_API_KEY or --api-key-file)"
            )
        tenant = self.by_key_digest.get(api_key_digest(api_key))
        if tenant is None:
            raise Unauthenticated("unknown API key")
        return tenant


def api_key_digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def _tenant(entry: dict[str, Any]) -> Tenant:
    name = str(entry["name"])
    if not name:
        raise ValueError("a tenant needs a non-empty name")
    return Tenant(
        name=name,
        admin=bool(entry.get("admin", False)),
        requests_per_second=float(entry.get("requests_per_second", math.inf)),
        burst=int(entry.get("burst", 1)),
        max_queued_jobs=int(entry.get("max_queued_jobs", 0)),
    )


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """Token buckets, one per tenant, in this gateway process: with R replicas behind a load
    balancer a tenant gets up to R times its rate, which the docs say."""

    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, tenant: Tenant, *, read_only: bool = False) -> None:
        """Takes one token of the tenant's requests, or with read_only of its reads (a bucket
        of its own, READ_BUDGET_FACTOR times larger and faster)."""
        factor = READ_BUDGET_FACTOR if read_only else 1
        rate = tenant.requests_per_second * factor
        if math.isinf(rate):
            return
        now = self.clock()
        capacity = max(tenant.burst, 1) * factor
        key = f"{tenant.name}/reads" if read_only else tenant.name
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket(tokens=capacity, stamp=now))
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return
            wait = (1 - bucket.tokens) / rate if rate > 0 else math.inf
        what = "reads" if read_only else "requests"
        raise RateLimited(
            f"tenant {tenant.name!r} is over its rate of {rate:g} {what}/s "
            f"(burst {capacity}); retry in {wait * 1000:.0f} ms",
            retry_after_ms=math.ceil(wait * 1000) if math.isfinite(wait) else None,
        )


@dataclass
class AccessControl:
    directory: TenantDirectory | None
    limiter: RateLimiter = field(default_factory=RateLimiter)

    def admit(self, metadata: Iterable[tuple[str, str | bytes]], method: str = "") -> Tenant:
        """The caller's tenant, once its key checks and its rate allows one more request (one
        more read, for a method in READ_ONLY_METHODS)."""
        if self.directory is None:
            return ANONYMOUS
        tenant = self.directory.authenticate(bearer_token(metadata))
        self.limiter.admit(tenant, read_only=method in READ_ONLY_METHODS)
        return tenant


def bearer_token(metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
    for key, value in metadata:
        if key.lower() == AUTHORIZATION_HEADER:
            text = value.decode() if isinstance(value, bytes) else value
            if text.lower().startswith(BEARER):
                return text[len(BEARER) :].strip()
    return None
