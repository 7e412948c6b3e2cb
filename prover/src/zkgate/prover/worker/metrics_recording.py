"""Where a prover records its metrics, and whether it serves them itself: its flags, and the
recording directory and endpoint they set up.

A prover started by the gateway records into the gateway's directory and is served by it; a
standalone prover may serve its own /metrics (metrics_endpoint.py) from a directory of its own.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from zkgate.prover.metrics_endpoint import MetricsServer, metrics_registry
from zkgate.prover.worker.metrics import MULTIPROCESS_DIR_ENV, record_to


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
