"""Prometheus metrics of the gateway: every RPC by service, method, model and status code with
its latency, and the /metrics endpoint, which also carries the job queue's counts and the
metrics of the embedded provers.

Calls to the REST half are counted in the same series (service "rest", the same method and
code labels), by a middleware.
RPCs are observed by a server interceptor placed before any other, so that calls refused before
a servicer runs (authentication, rate limits) are counted with their codes too. Health checks
and reflection are left out: probes would swamp the request counts.

Label values stay bounded: services and methods are those the server registered (an unknown
method never reaches an interceptor's wrapper), codes are gRPC's, and a model name the catalogue
does not hold is labelled "unknown", so a client sending random names cannot mint new series.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web
from aiohttp.typedefs import Handler as _RestHandler
from aiohttp.typedefs import Middleware
from prometheus_client import Counter, Histogram, ProcessCollector
from prometheus_client.registry import Collector

from zkgate.gateway.errors import NotFound
from zkgate.gateway.rest.routes import GRPC_CODE, oip_method
from zkgate.gateway.service import GatewayService
from zkgate.gateway.servicers.call_interceptor import CallInterceptor, Context
from zkgate.prover.metrics_endpoint import JobCountsCollector, MetricsServer, metrics_registry

UNKNOWN_MODEL = "unknown"
_LABELS = ("service", "method", "model", "code")

REQUESTS = Counter(
    "zkgate_requests",
    "RPCs answered by the gateway, by service, method, model and status code.",
    _LABELS,
    registry=None,
)
REQUEST_DURATION = Histogram(
    "zkgate_request_duration_seconds",
    "Time the gateway took to answer an RPC (for a server stream, until it ended).",
    _LABELS,
    # ModelInfer answers in about a millisecond; registrations and watched jobs take longer.
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=None,
)


def requested_model(request: object) -> str:
    """The model an RPC names: OIP requests call it model_name, zkgate's call it name, and
    RequestProof carries it in its inference request; "" for RPCs about no model."""
    for message in (request, getattr(request, "request", None)):
        for field in ("model_name", "name"):
            value = getattr(message, field, None)
            if isinstance(value, str):
                return value
    return ""


class ModelLabels:
    """Model names as label values, bounded by the catalogue.

    Names seen in the catalogue are remembered, so only a name not yet seen costs a lookup; a
    registration's name is looked up after the RPC, when the catalogue holds it.
    """

    def __init__(self, in_catalogue: Callable[[str], bool]) -> None:
        self._in_catalogue = in_catalogue
        self._known: set[str] = set()

    def label(self, name: str) -> str:
        if not name or name in self._known:
            return name
        if self._in_catalogue(name):
            self._known.add(name)
            return name
        return UNKNOWN_MODEL


def catalogue_lookup(get_model: Callable[[str], object]) -> Callable[[str], bool]:
    """in_catalogue for ModelLabels, from a lookup that raises NotFound (get_model)."""

    def in_catalogue(name: str) -> bool:
        try:
            get_model(name)
        except NotFound:
            return False
        return True

    return in_catalogue


def _code(context: grpc.aio.ServicerContext[Any, Any], error: BaseException | None) -> str:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED.name
    # grpc answers an exception that escaped every handler with UNKNOWN.
    return grpc.StatusCode.UNKNOWN.name if error is not None else grpc.StatusCode.OK.name


class RequestMetricsInterceptor(CallInterceptor):
    def __init__(self, models: ModelLabels) -> None:
        self._models = models

    @asynccontextmanager
    async def around(
        self, service: str, method: str, metadata: tuple[Any, ...], request: Any, context: Context
    ) -> AsyncIterator[None]:
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            labels = (
                service,
                method,
                self._models.label(requested_model(request)),
                _code(context, error),
            )
            REQUESTS.labels(*labels).inc()
            REQUEST_DURATION.labels(*labels).observe(time.perf_counter() - started)


# The service label of calls to the OIP's REST half; their method label is the OIP method the
# route answers (ModelInfer, ModelReady, ...) and their code the gRPC status of the same
# outcome (the caller saw its HTTP form), so one query covers both halves.
REST_SERVICE = "rest"
_NO_ROUTE = "none"


def rest_metrics(models: ModelLabels) -> Middleware:
    """Counts REST calls in the same series as RPCs. It must run outside the middleware that
    turns errors into JSON answers, to see the status the caller got; health probes are left
    out, as gRPC health checks are."""

    @web.middleware
    async def observe(request: web.Request, handler: _RestHandler) -> web.StreamResponse:
        if request.path.startswith("/v2/health/"):
            return await handler(request)
        started = time.perf_counter()
        response = await handler(request)
        method = oip_method(request) or _NO_ROUTE
        labels = (
            REST_SERVICE,
            method,
            models.label(request.match_info.get("name", "")),
            request.get(GRPC_CODE, grpc.StatusCode.UNKNOWN).name,
        )
        REQUESTS.labels(*labels).inc()
        REQUEST_DURATION.labels(*labels).observe(time.perf_counter() - started)
        return response

    return observe


class GatewayMetrics:
    """The gateway's /metrics endpoint, its RPC interceptor, and the directory its embedded
    provers record into.

    The directory is new for each run (prometheus_client's multiprocess files must not outlive
    the processes that sum them) and is removed at close.
    """

    def __init__(
        self,
        service: GatewayService,
        *,
        host: str,
        port: int,
        extra_collectors: tuple[Collector, ...] = (),
    ) -> None:
        self._host = host
        self._port = port
        models = ModelLabels(catalogue_lookup(service.get_model))
        self.interceptor = RequestMetricsInterceptor(models)
        self.rest_middleware = rest_metrics(models)
        self.prover_dir = Path(tempfile.mkdtemp(prefix="zkgate-metrics-"))
        self._registry = metrics_registry(
            self.prover_dir,
            (
                REQUESTS,
                REQUEST_DURATION,
                ProcessCollector(registry=None),
                JobCountsCollector(service.job_counts),
                *extra_collectors,
            ),
        )
        self._server: MetricsServer | None = None

    def start(self) -> None:
        self._server = MetricsServer(self._host, self._port, self._registry)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        shutil.rmtree(self.prover_dir, ignore_errors=True)
