"""The prover worker process: `python -m zkgate.prover --data-dir DIR`.

A separate process because ezkl holds the GIL for a whole prove, and the proving itself runs in
a child of it (isolation.py) so that its lease heartbeat never stops. It runs one worker loop
per lane (lanes.py: registrations beside proofs, each with its own child), advertises its memory
budget to the shared database (presence.py) and claims only the jobs that budget holds. It
lowers its priority so that, when it shares a machine with the gateway (embedded mode),
inference stays responsive while it proves. SIGTERM and SIGINT stop it after the jobs in hand:
ezkl cannot be interrupted, and a job's lease lets another worker take over if the process is
killed instead.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.artifacts.store_settings import (
    ArtifactSettings,
    add_artifact_arguments,
    artifact_settings_from_args,
    open_artifact_store,
    open_key_cache,
)
from zkgate.prover.circuits.srs_files import CeremonySrs
from zkgate.prover.circuits.srs_source import SrsSource
from zkgate.prover.data_directory import DataLayout
from zkgate.prover.memory_sizes import describe_size, largest_size, parse_size
from zkgate.prover.queue.catalog import ModelCatalog
from zkgate.prover.queue.database import Database
from zkgate.prover.queue.database_settings import (
    add_database_arguments,
    database_url_from_args,
    open_database,
)
from zkgate.prover.queue.jobs import JobKind
from zkgate.prover.queue.provers import ProverAdvert, ProverDirectory
from zkgate.prover.queue.sql_job_queue import SqlJobQueue
from zkgate.prover.worker.isolation import ChildProcessHandlers
from zkgate.prover.worker.job_handlers import make_batch_handler, make_handlers
from zkgate.prover.worker.key_affinity import CachedKeyModels
from zkgate.prover.worker.lanes import DEFAULT_LANES, Lane, parse_lanes, run_lanes
from zkgate.prover.worker.loop import (
    DEFAULT_BATCH_WINDOW_SECONDS,
    DEFAULT_LEASE_SECONDS,
    BatchHandler,
    Batching,
    JobHandler,
    run_worker,
)
from zkgate.prover.worker.memory_budget import HEADROOM_FACTOR, default_memory_budget
from zkgate.prover.worker.metrics import record_cache_access
from zkgate.prover.worker.metrics_recording import (
    ProverMetrics,
    ProverMetricsSettings,
    add_metrics_arguments,
    metrics_settings_from_args,
)
from zkgate.prover.worker.presence import ProverPresence

logger = logging.getLogger("zkgate.prover")

DEFAULT_NICE = 10
# Added to the niceness of a lane that takes no proofs: nice 10 against 0 gives it about a tenth
# of the CPU a proof competes for (Linux weighs niceness 1.25x a step).
DEFAULT_REGISTRATION_NICE = 10


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class WorkerConfig:
    data_dir: Path
    worker_id: str
    lease_seconds: float
    nice: int
    ceremony: CeremonySrs | None
    artifacts: ArtifactSettings
    # "" for SQLite in data_dir; a postgresql:// URL, with its password: kept out of reprs.
    database_url: str = field(default="", repr=False)
    metrics: ProverMetricsSettings = field(default_factory=ProverMetricsSettings)
    batch_window_seconds: float = DEFAULT_BATCH_WINDOW_SECONDS
    # What one job may take; jobs that need more are left to larger provers.
    memory_budget_bytes: int = field(default_factory=default_memory_budget)
    lanes: tuple[Lane, ...] = parse_lanes(DEFAULT_LANES)
    registration_nice: int = DEFAULT_REGISTRATION_NICE
    # The largest budget of provers scaled to zero (queue/provers.py); None: none are.
    standby_memory_budget: int | None = None


def add_worker_arguments(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    """Flags, falling back to ZKGATE_* environment variables, then to defaults; shared by
    `python -m zkgate.prover` and `zkgate prover`."""
    _add_queue_arguments(parser, environ)
    parser.add_argument(
        "--nice",
        type=int,
        default=int(environ.get("ZKGATE_PROVER_NICE", DEFAULT_NICE)),
        help="added to the process's niceness (default %(default)s)",
    )
    parser.add_argument(
        "--batch-window-seconds",
        type=float,
        default=float(environ.get("ZKGATE_BATCH_WINDOW_SECONDS", DEFAULT_BATCH_WINDOW_SECONDS)),
        help="how long the oldest prove job of a batching model waits for others to join its "
        "batch (default %(default)s)",
    )
    parser.add_argument(
        "--memory-budget",
        default=environ.get("ZKGATE_PROVER_MEMORY_BUDGET", ""),
        help="the most memory one job may take, e.g. 8GiB or 12Gi; jobs that need more are "
        f"left to larger provers (default: {HEADROOM_FACTOR:.0%}% of the smaller of the "
        "machine's RAM and the container's memory limit)",
    )
    parser.add_argument(
        "--lanes",
        default=environ.get("ZKGATE_PROVER_LANES", DEFAULT_LANES),
        help="worker loops, each with its own proving process: comma between lanes, plus "
        "between the job kinds one lane takes (default %(default)s: registrations beside "
        "proofs; register+prove: one at a time)",
    )
    parser.add_argument(
        "--registration-nice",
        type=int,
        default=int(environ.get("ZKGATE_PROVER_REGISTRATION_NICE", DEFAULT_REGISTRATION_NICE)),
        help="added to the niceness of a lane that takes no proofs, so proofs keep most of "
        "the CPU (default %(default)s)",
    )
    parser.add_argument(
        "--standby-memory-budgets",
        default=environ.get("ZKGATE_STANDBY_MEMORY_BUDGETS", ""),
        help="the memory budgets of prover pools that may be scaled to zero, comma-separated: "
        "a registration is not refused for a proof that only they can hold",
    )
    _add_srs_arguments(parser, environ)
    add_artifact_arguments(parser, environ)
    add_database_arguments(parser, environ)
    add_metrics_arguments(parser, environ)


def _add_queue_arguments(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    """Which queue this worker serves, under which name, and how long its leases last."""
    parser.add_argument(
        "--data-dir",
        default=environ.get("ZKGATE_DATA_DIR"),
        help="the gateway's data directory: its job queue and artifact store (env "
        "ZKGATE_DATA_DIR; required)",
    )
    parser.add_argument(
        "--worker-id",
        default=environ.get("ZKGATE_WORKER_ID"),
        help="this worker's name in job leases (env ZKGATE_WORKER_ID; default: host and pid)",
    )
    parser.add_argument(
        "--lease-seconds",
        type=float,
        default=float(environ.get("ZKGATE_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)),
        help="how long a job stays leased without a heartbeat before another worker may take it "
        "(env ZKGATE_LEASE_SECONDS)",
    )


def _add_srs_arguments(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    parser.add_argument(
        "--srs-path",
        default=environ.get("ZKGATE_SRS_PATH"),
        help="a ceremony SRS file to prove under, pinned by --srs-sha256 (env "
        "ZKGATE_SRS_PATH; default: none, the SRS each registration names)",
    )
    parser.add_argument(
        "--srs-sha256",
        default=environ.get("ZKGATE_SRS_SHA256"),
        help="the SHA-256 pin of --srs-path (env ZKGATE_SRS_SHA256)",
    )


def config_from_args(args: argparse.Namespace) -> WorkerConfig:
    if not args.data_dir:
        raise ConfigError("--data-dir (or ZKGATE_DATA_DIR) is required")
    if bool(args.srs_path) != bool(args.srs_sha256):
        raise ConfigError("--srs-path and --srs-sha256 go together: pin the ceremony file")
    if args.lease_seconds <= 0:
        raise ConfigError(f"--lease-seconds must be positive, got {args.lease_seconds}")
    if args.batch_window_seconds < 0:
        raise ConfigError(
            f"--batch-window-seconds must not be negative, got {args.batch_window_seconds}"
        )
    ceremony = (
        CeremonySrs(path=Path(args.srs_path), sha256=args.srs_sha256) if args.srs_path else None
    )
    try:
        artifacts = artifact_settings_from_args(args)
        database_url = database_url_from_args(args)
        metrics = metrics_settings_from_args(args)
        lanes = parse_lanes(args.lanes)
        budget = parse_size(args.memory_budget) if args.memory_budget else None
        standby = largest_size(args.standby_memory_budgets)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return WorkerConfig(
        data_dir=Path(args.data_dir),
        worker_id=args.worker_id or f"{socket.gethostname()}-{os.getpid()}",
        lease_seconds=args.lease_seconds,
        nice=args.nice,
        ceremony=ceremony,
        artifacts=artifacts,
        database_url=database_url,
        metrics=metrics,
        batch_window_seconds=args.batch_window_seconds,
        memory_budget_bytes=budget or default_memory_budget(),
        lanes=lanes,
        registration_nice=args.registration_nice,
        standby_memory_budget=standby,
    )


def build_handlers(config: WorkerConfig) -> dict[JobKind, JobHandler]:
    """Runs in the handler process (see isolation.py), which opens its own database."""
    return make_handlers(
        *_handler_parts(config), standby_memory_budget=config.standby_memory_budget
    )


def build_batch_handler(config: WorkerConfig) -> BatchHandler:
    """Runs in the handler process, like build_handlers."""
    return make_batch_handler(*_handler_parts(config))


def _handler_parts(
    config: WorkerConfig,
) -> tuple[DataLayout, ArtifactStore, ModelCatalog, SrsSource]:
    layout = DataLayout(config.data_dir)
    cache = open_key_cache(config.artifacts, config.data_dir, on_access=record_cache_access)
    return (
        layout,
        open_artifact_store(config.artifacts, config.data_dir, cache=cache),
        ModelCatalog(open_database(config.database_url, config.data_dir)),
        SrsSource(layout.srs_cache, config.ceremony),
    )


def run(config: WorkerConfig) -> None:
    # Inherited by the handler processes, which do the proving.
    os.nice(config.nice)
    database = open_database(config.database_url, config.data_dir)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s; stopping after the jobs in hand", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    kinds = frozenset(kind for lane in config.lanes for kind in lane.kinds)
    advert = ProverAdvert(config.worker_id, config.memory_budget_bytes, kinds)
    logger.info(
        "prover %s: lanes %s, memory budget %s",
        config.worker_id,
        ", ".join(lane.name for lane in config.lanes),
        describe_size(config.memory_budget_bytes),
    )
    try:
        with ProverPresence(ProverDirectory(database), advert):
            run_lanes(config.lanes, functools.partial(_run_lane, config, database, stop), stop)
    finally:
        database.close()


def _run_lane(config: WorkerConfig, database: Database, stop: threading.Event, lane: Lane) -> None:
    """One lane's loop, with its own proving child; its lease owner is worker_id/lane, so each
    loop releases only its own orphans when it starts."""
    proves = JobKind.PROVE in lane.kinds
    isolated = ChildProcessHandlers(
        functools.partial(build_handlers, config),
        lane.kinds,
        batch_factory=functools.partial(build_batch_handler, config) if proves else None,
        nice=config.registration_nice if lane.background else 0,
    )
    try:
        run_worker(
            SqlJobQueue(database),
            isolated.handlers(),
            worker_id=f"{config.worker_id}/{lane.name}",
            lease_seconds=config.lease_seconds,
            stop=stop,
            prefer_models=_cached_key_models(config, database) if proves else None,
            batching=(
                Batching(isolated.batch_handler(), config.batch_window_seconds) if proves else None
            ),
            memory_budget=config.memory_budget_bytes,
            on_abandoned=isolated.stop_current,
        )
    finally:
        isolated.close()


def _cached_key_models(config: WorkerConfig, database: Database) -> CachedKeyModels | None:
    """Jobs whose keys this node's cache holds come first; without a cache (the store is the
    node's own directory) every key is as near as any other."""
    cache = open_key_cache(config.artifacts, config.data_dir)
    return None if cache is None else CachedKeyModels(ModelCatalog(database), cache)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zkgate.prover", description=__doc__)
    add_worker_arguments(parser, os.environ)
    return run_command(parser.parse_args(sys.argv[1:] if argv is None else argv))


def run_command(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # ezkl logs every step of every call at INFO through Python logging.
    logging.getLogger("ezkl").setLevel(logging.WARNING)
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"zkgate.prover: {exc}", file=sys.stderr)
        return 2
    # Before run(): the handler process it starts must record into the same directory.
    metrics = ProverMetrics(config.metrics)
    try:
        run(config)
    finally:
        metrics.close()
    return 0
