"""Serving /metrics: the provers' metric files, the job queue's counts, a gateway's own metrics.

Shared by the gateway and standalone provers (worker/metrics_recording.py). Both serve a
registry that sums the files of a multiprocess directory (see worker/metrics.py): a standalone
prover its own directory, a gateway the one its embedded provers write to, so that
`--workers N` provers need no ports of their own and Prometheus needs no list of them. Counters
and histograms of a prover that died and was restarted stay in the sum, so totals do not drop
when one prover does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from zkgate.prover.queue.jobs import JobState

log = logging.getLogger("zkgate.metrics")


class JobCountsCollector(Collector):
    """zkgate_jobs, read from the job database at each scrape (one grouped count), so that every
    gateway replica reports the shared queue as it is, not what it has seen."""

    def __init__(self, counts: Callable[[], Mapping[JobState, int]]) -> None:
        self._counts = counts

    def describe(self) -> Iterator[Metric]:
        # Saves the registry a database query at registration time.
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self._counts()
        except Exception:
            # The rest of the scrape (request metrics, prover files) is still worth having.
            log.exception("could not count jobs for /metrics")
            return
        family = self._family()
        for state, count in counts.items():
            family.add_metric([str(state)], count)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "zkgate_jobs", "Jobs in the queue by state, counted at scrape time.", labels=["state"]
        )


def metrics_registry(
    multiprocess_dir: Path | None, collectors: tuple[Collector, ...] = ()
) -> CollectorRegistry:
    """A registry with the sums of multiprocess_dir's files (if given) and collectors."""
    registry = CollectorRegistry()
    if multiprocess_dir is not None:
        MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    for collector in collectors:
        registry.register(collector)
    return registry


class _QuietHandler(WSGIRequestHandler):
    """Scrapes every few seconds would fill the log with request lines."""

    def log_message(self, format: str, *args: object) -> None:
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def metrics_app(registry: CollectorRegistry) -> WSGIApplication:
    """/metrics, and 404 for every other path: a probe or a typo should not read as metrics."""
    metrics = make_wsgi_app(registry)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/metrics":
            body: Iterable[bytes] = metrics(environ, start_response)
            return body
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: metrics are at /metrics\n"]

    return app


class MetricsServer:
    """A WSGI server for /metrics in a daemon thread, which the owner can stop."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        self._server = make_server(
            host, port, metrics_app(registry), _ThreadingServer, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.port: int = self._server.server_port
        log.info("metrics on http://%s:%d/metrics", host, self.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
