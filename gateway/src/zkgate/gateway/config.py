"""Gateway settings: one place for every knob, from flags or environment variables.

Each setting has an environment variable of the same name (ZKGATE_ prefix, upper case), so the
Helm chart and a local `zkgate serve` share names; flags win over the environment.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from zkgate.core.learning.admission import MINIMUM_REPLAY
from zkgate.gateway.model_repository_source import object_store_location
from zkgate.prover.artifacts.store_settings import DEFAULT_KEY_CACHE_BYTES, ArtifactSettings
from zkgate.prover.memory_sizes import largest_size, parse_size
from zkgate.prover.queue.catalog import ProofPolicy
from zkgate.prover.queue.database_settings import (
    DATABASE_URL_ENV,
    DATABASE_URL_FILE_ENV,
    add_database_arguments,
    check_database_url,
    read_database_url,
)
from zkgate.prover.worker.lanes import DEFAULT_LANES, parse_lanes


@dataclass(frozen=True)
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 8001
    data_dir: Path = Path("./zkgate-data")
    # Local prover worker processes started beside the gateway (embedded mode); 0 for none.
    workers: int = 1
    # The REST half of the Open Inference Protocol (KServe v2 JSON) on this port; 0: off.
    rest_port: int = 8000
    # gRPC's own limit on one message; also the largest ONNX model RegisterModel accepts.
    max_message_bytes: int = 64 * 1024 * 1024
    # Queued proof jobs beyond this answer RESOURCE_EXHAUSTED rather than growing without bound.
    max_queued_jobs: int = 10_000
    # Rows one request may hold for a model with a dynamic batch axis; each row gets its own
    # receipt and, on request, its own proof job.
    max_batch_rows: int = 64
    # Policy given to models registered without one.
    default_policy: ProofPolicy = ProofPolicy.ON_REQUEST
    # Largest circuit a registration may calibrate to (2^logrows rows); memory grows with it.
    max_logrows: int = 17
    # Provers renew their lease while they work; a lost prover's job is retried after this.
    lease_seconds: float = 30.0
    # Prove jobs of a model with a batch circuit: how long the oldest waits for others to join
    # its batch before a prover proves what it has (padded out).
    batch_window_seconds: float = 0.5
    # A ceremony SRS file for every circuit the embedded provers set up, and its SHA-256 pin;
    # unset, each registration names its file (inside DATA_DIR/srs) or gets a development SRS.
    srs_path: str = ""
    srs_sha256: str = ""
    # Niceness of embedded prover processes: inference must stay responsive while they prove.
    prover_nice: int = 10
    # Embedded provers' worker loops (zkgate prover --lanes): registrations beside proofs.
    prover_lanes: str = DEFAULT_LANES
    # The most memory one job of an embedded prover may take (8GiB, 12Gi); empty: 80% of the
    # machine's (or container's) memory. With --workers above 1, give each its share.
    prover_memory_budget: str = ""
    # The memory budgets of prover pools that may be scaled to zero, comma-separated: proof jobs
    # only they can hold are queued for the autoscaler rather than refused (docs/deployment.md).
    standby_memory_budgets: str = ""
    # Proof-of-learning: the least a registration's verification replays (docs/
    # proof-of-learning.md); intents are refused for policies that plan less.
    learning_top_q: int = MINIMUM_REPLAY.top_q
    learning_random_segments: int = MINIMUM_REPLAY.random_segments
    # Model folders (ONNX, calibration.npy, model.toml) registered at start and on `zkgate
    # models sync` (docs/model-management.md): a directory, or s3://bucket/prefix (mirrored into
    # DATA_DIR/model-repository before each sync, with s3_endpoint_url and s3_region); empty:
    # none.
    model_repository: str = ""
    # A directory of NAME.toml files, each replacing model folder NAME's model.toml (the Helm
    # chart renders its values' model configs here).
    model_configs: str = ""
    # How often the gateway deletes the artifacts of removed model versions that had to wait
    # (a job was running on them); removals sweep at once as well.
    artifact_sweep_seconds: float = 60.0
    # How long a draining gateway lets in-flight calls finish.
    shutdown_grace_seconds: float = 5.0
    # Prometheus /metrics on this port (same host), embedded provers' metrics included; 0: off.
    metrics_port: int = 0
    # Tenants and the SHA-256 of their API keys (JSON, see docs/scale-out.md); unset, access
    # control is off and every caller is one anonymous tenant.
    api_keys_file: str = ""
    # PEM server certificate chain and key: TLS on the gRPC port. With a client CA as well,
    # clients must present a certificate it signed (mTLS).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    # Where artifacts live (docs/scale-out.md#artifacts): empty for DATA_DIR/artifacts,
    # file:///abs/path for a shared volume, s3://bucket/prefix for a bucket. S3 credentials come
    # from the AWS_* variables or AWS_SHARED_CREDENTIALS_FILE, never from here.
    artifact_store: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""
    # Embedded provers' local copies of a shared store's keys; empty dir = DATA_DIR/key-cache.
    key_cache_dir: str = ""
    key_cache_bytes: int = DEFAULT_KEY_CACHE_BYTES
    # Empty: SQLite at DATA_DIR/zkgate.db. postgresql://user:password@host/db: PostgreSQL, shared
    # by many gateways and provers. It holds a password, so it is read only from
    # ZKGATE_DATABASE_URL or a file (--database-url-file), never from a flag, and never printed.
    database_url: str = field(default="", repr=False, metadata={"secret": True})

    def __post_init__(self) -> None:
        check_database_url(self.database_url)
        self.artifact_settings()
        parse_lanes(self.prover_lanes)
        if self.prover_memory_budget:
            parse_size(self.prover_memory_budget)
        self.standby_memory_budget()
        if self.max_batch_rows < 1:
            raise ValueError("max_batch_rows must be at least 1")
        if bool(self.srs_path) != bool(self.srs_sha256):
            raise ValueError("srs_path and srs_sha256 go together: pin the ceremony file")
        repository = self.model_repository
        if (
            repository
            and object_store_location(repository) is None
            and not Path(repository).is_dir()
        ):
            raise ValueError(f"model_repository {repository} is not a directory")
        if self.model_configs and not self.model_repository:
            raise ValueError("model_configs needs a model_repository to apply to")
        if self.model_configs and not Path(self.model_configs).is_dir():
            raise ValueError(f"model_configs {self.model_configs} is not a directory")
        if self.artifact_sweep_seconds <= 0:
            raise ValueError("artifact_sweep_seconds must be positive")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.tls_client_ca_file and not self.tls_cert_file:
            raise ValueError("tls_client_ca_file (mTLS) needs tls_cert_file and tls_key_file")
        if self.learning_top_q < MINIMUM_REPLAY.top_q or (
            self.learning_random_segments < MINIMUM_REPLAY.random_segments
        ):
            raise ValueError(
                f"learning_top_q and learning_random_segments may raise the verifier's minimum "
                f"replay plan ({MINIMUM_REPLAY.top_q} and {MINIMUM_REPLAY.random_segments}), "
                "not lower it"
            )

    def standby_memory_budget(self) -> int | None:
        """The largest of standby_memory_budgets; also checks them."""
        return largest_size(self.standby_memory_budgets)

    def artifact_settings(self) -> ArtifactSettings:
        """Also checks them: a malformed artifact_store fails at start-up."""
        return ArtifactSettings(**{f.name: getattr(self, f.name) for f in fields(ArtifactSettings)})

    @staticmethod
    def env_name(field_name: str) -> str:
        return "ZKGATE_" + field_name.upper()


def _convert(name: str, raw: str) -> object:
    kind = {f.name: f.type for f in fields(GatewayConfig)}[name]
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "Path":
        return Path(raw)
    if kind == "ProofPolicy":
        return ProofPolicy(raw)
    return raw


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per setting, defaulting to None so that unset flags fall back to the environment."""
    for f in fields(GatewayConfig):
        if f.metadata.get("secret"):
            continue
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            default=None,
            help=f"default {f.default}; env {GatewayConfig.env_name(f.name)}",
        )
    # Refuses --database-url with the reason; the file flag falls back to the environment below.
    add_database_arguments(parser, {})


def load_config(
    args: argparse.Namespace | None = None, environ: Mapping[str, str] = os.environ
) -> GatewayConfig:
    values: dict[str, object] = {
        "database_url": read_database_url(
            getattr(args, "database_url_file", None) or environ.get(DATABASE_URL_FILE_ENV),
            environ.get(DATABASE_URL_ENV, ""),
        )
    }
    for f in fields(GatewayConfig):
        if f.metadata.get("secret"):
            continue
        raw = getattr(args, f.name, None) if args is not None else None
        if raw is None:
            raw = environ.get(GatewayConfig.env_name(f.name))
        if raw is not None:
            try:
                values[f.name] = _convert(f.name, str(raw))
            except ValueError as exc:
                raise ValueError(f"bad value {raw!r} for {f.name}: {exc}") from exc
    return GatewayConfig(**values)  # type: ignore[arg-type]
