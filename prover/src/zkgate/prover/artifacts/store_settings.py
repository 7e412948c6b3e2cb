"""The artifact settings shared by the gateway and the provers, and opening the store they name.

artifact_store:
- empty: DATA_DIR/artifacts, this node's own directory (one machine);
- file:///abs/path: a directory on a volume that every node mounts;
- s3://bucket/prefix: an S3-compatible bucket (s3_endpoint_url for other services than AWS).
Provers copy what they prove with into key_cache_dir (default DATA_DIR/key-cache), at most
key_cache_bytes, when the store is not their own directory. The gateway reads only small
artifacts into memory and needs no cache.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

from zkgate.prover.artifacts.backend import ArtifactBackend, DirectoryBackend
from zkgate.prover.artifacts.local_cache import CacheListener, LocalCache
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.data_directory import DataLayout

DEFAULT_KEY_CACHE_BYTES = 20 * 1024**3


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str


def parse_artifact_store(url: str) -> Path | S3Location | None:
    """None for the node's own directory, a Path for a shared volume, else an S3 location."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.netloc == "" and parts.path.startswith("/"):
        return Path(parts.path)
    if parts.scheme == "s3" and parts.netloc and not parts.query and not parts.fragment:
        return S3Location(bucket=parts.netloc, prefix=parts.path.strip("/"))
    raise ValueError(
        f"artifact_store must be empty, file:///absolute/path or s3://bucket/prefix, not {url!r}"
    )


@dataclass(frozen=True)
class ArtifactSettings:
    """Field names are the setting names (flag --artifact-store, variable ZKGATE_ARTIFACT_STORE)
    in the gateway's config and the prover's flags alike."""

    artifact_store: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""
    key_cache_dir: str = ""
    key_cache_bytes: int = DEFAULT_KEY_CACHE_BYTES

    def __post_init__(self) -> None:
        parse_artifact_store(self.artifact_store)
        if self.key_cache_bytes <= 0:
            raise ValueError(f"key_cache_bytes must be positive, got {self.key_cache_bytes}")

    def as_arguments(self) -> list[str]:
        """The prover flags that carry these settings to a prover process."""
        return [f"--{f.name.replace('_', '-')}={getattr(self, f.name)}" for f in fields(self)]


_HELP = {
    "artifact_store": "where keys and circuits are kept: empty for DATA_DIR, file:///shared/path "
    "or s3://bucket/prefix",
    "s3_endpoint_url": "the S3 endpoint of an s3:// store (empty: AWS's)",
    "s3_region": "the S3 region of an s3:// store (empty: the SDK's default)",
    "key_cache_dir": "local copies of a shared store's proving keys (empty: DATA_DIR/key-cache)",
    "key_cache_bytes": "the most bytes the local key cache holds",
}


def add_artifact_arguments(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    """The prover's flags, falling back to the ZKGATE_* variables the gateway also reads."""
    for f in fields(ArtifactSettings):
        variable = "ZKGATE_" + f.name.upper()
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            type=type(f.default),
            default=environ.get(variable, f.default),
            help=f"{_HELP[f.name]} (env {variable})",
        )


def artifact_settings_from_args(args: argparse.Namespace) -> ArtifactSettings:
    return ArtifactSettings(**{f.name: getattr(args, f.name) for f in fields(ArtifactSettings)})


def open_artifact_store(
    settings: ArtifactSettings, data_dir: Path, *, cache: LocalCache | None = None
) -> ArtifactStore:
    """The store the settings name; provers pass their open_key_cache()."""
    location = parse_artifact_store(settings.artifact_store)
    backend: ArtifactBackend
    if location is None:
        backend = DirectoryBackend(DataLayout(data_dir).artifacts)
    elif isinstance(location, Path):
        backend = DirectoryBackend(location)
    else:
        # Imported here: boto3 costs a few hundred milliseconds at start-up, for S3 users only.
        from zkgate.prover.artifacts.s3_backend import S3Backend

        backend = S3Backend.connect(
            location.bucket,
            location.prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
    return ArtifactStore(backend, cache=cache)


def open_key_cache(
    settings: ArtifactSettings, data_dir: Path, *, on_access: CacheListener | None = None
) -> LocalCache | None:
    """The prover's local copies of a shared store's artifacts; None for the node's own
    directory, whose files are local already. on_access hears of every hit and miss."""
    if parse_artifact_store(settings.artifact_store) is None:
        return None
    root = (
        Path(settings.key_cache_dir) if settings.key_cache_dir else DataLayout(data_dir).key_cache
    )
    return LocalCache(root, max_bytes=settings.key_cache_bytes, on_access=on_access)
