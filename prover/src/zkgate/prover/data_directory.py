"""Where things live under a zkgate data directory.

The gateway and every prover process open the same directory, so the names are fixed in one
place: a process that computed its own would open another database or miss artifacts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataLayout:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / "zkgate.db"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def srs_cache(self) -> Path:
        """Development SRS files, one per logrows, shared by the provers of this node."""
        return self.root / "srs"

    @property
    def key_cache(self) -> Path:
        """Local copies of artifacts kept in a shared store (a bucket, a network volume), shared
        by the provers of this node; the key_cache_dir setting may move it."""
        return self.root / "key-cache"

    @property
    def scratch(self) -> Path:
        """Per-job working directories; on the artifacts' file system, so a finished proving key
        is renamed into the store instead of copied."""
        return self.root / "scratch"

    @property
    def signing_key(self) -> Path:
        return self.root / "keys" / "receipt-ed25519.key"
