"""Serving /metrics: the provers' metric files, the job queue's counts, a gateway's own metrics.

Shared by the gateway and standalone provers (whose flags are here too). Both serve a registry
that sums the files of a multiprocess directory (see metrics.py): a standalone prover its own
directory, a gateway the one its embedded provers write to, so that `--workers N` provers need
no ports of their own and Prometheus needs no list of them. Counters and histograms of a prover
that died and was restarted stay in the sum, so totals do not drop when one prover does.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from zkgate.prover.queue.jobs import JobState
from zkgate.prover.worker.metrics import MULTIPROCESS_DIR_ENV, record_to

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


class MetricsServer:
    """prometheus_client's HTTP server in a daemon thread, which the owner can stop."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        self.port: int = self._server.server_port
        log.info("metrics on http://%s:%d/metrics", host, self.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@dataclass(frozen=True)
class ProverMetricsSettings:
    host: str = "127.0.0.1"
    # 0: no endpoint of its own (a prover started by the gateway is served by the gateway).
    port: int = 0
    # Where this prover and its handler process record; empty: a new temporary directory.
    directory: str = ""


def add_metrics_arguments(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=int(environ.get("ZKGATE_PROVER_METRICS_PORT", 0)),
        help="serve Prometheus /metrics on this port; 0 (the default) for none",
    )
    parser.add_argument(
        "--metrics-host",
        default=environ.get("ZKGATE_PROVER_METRICS_HOST", ProverMetricsSettings.host),
        help="address of the metrics endpoint (default %(default)s)",
    )
    parser.add_argument(
        "--metrics-dir",
        default=environ.get(MULTIPROCESS_DIR_ENV, ""),
        help="record metrics as files here, for a server that sums them (the gateway does)",
    )


def metrics_settings_from_args(args: argparse.Namespace) -> ProverMetricsSettings:
    if not 0 <= args.metrics_port <= 65535:
        raise ValueError(f"--metrics-port must be 0-65535, got {args.metrics_port}")
    return ProverMetricsSettings(
        host=args.metrics_host, port=args.metrics_port, directory=args.metrics_dir
    )


class ProverMetrics:
    """A prover's recording directory and, with a port, its endpoint; close() ends both (a
    directory made here is removed: its files mean nothing to the next run)."""

    def __init__(self, settings: ProverMetricsSettings) -> None:
        self._temporary: Path | None = None
        self._server: MetricsServer | None = None
        directory = Path(settings.directory) if settings.directory else None
        if directory is None and settings.port:
            directory = self._temporary = Path(tempfile.mkdtemp(prefix="zkgate-prover-metrics-"))
        if directory is None:
            return
        record_to(directory)
        if settings.port:
            self._server = MetricsServer(settings.host, settings.port, metrics_registry(directory))

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
