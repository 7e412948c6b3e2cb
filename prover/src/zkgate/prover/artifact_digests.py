"""Names of artifacts (SHA-256 digests) and the errors every artifact backend reports.

Kept apart from store.py so that the backends and the local cache can use them without
importing the store that is built on top of them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 1 << 20
_DIGEST = re.compile(r"[0-9a-f]{64}")


class ArtifactNotFound(LookupError):
    pass


class ArtifactCorrupt(RuntimeError):
    """Bytes do not hash to their name: disk damage, tampering, or a transfer gone wrong."""


def validate_digest(digest: str) -> str:
    """Returns the digest if it is 64 lowercase hex characters; anything else could escape the
    store's directory once joined to a path, or its prefix once joined to an object key."""
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"not a SHA-256 digest (64 lowercase hex characters): {digest!r}")
    return digest


def check_digest(expected: str, actual: str, what: str = "artifact") -> None:
    if actual != expected:
        raise ArtifactCorrupt(f"{what} {expected} hashes to {actual}")


def read_chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(CHUNK_BYTES):
        yield chunk


def hash_chunks(chunks: Iterable[bytes]) -> str:
    hasher = hashlib.sha256()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.hexdigest()


def hash_file(path: Path) -> str:
    with path.open("rb") as source:
        return hash_chunks(read_chunks(source))


def fsync_directory(directory: Path) -> None:
    """Makes a rename durable: the new directory entry survives a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
