"""Names of artifacts (SHA-256 digests) and the errors every artifact backend reports.

Kept apart from store.py so that the backends and the local cache can use them without
importing the store that is built on top of them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
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


FileStamp = Callable[[os.stat_result], tuple[int, ...]]


def placed_stamp(stat: os.stat_result) -> tuple[int, ...]:
    """For files only ever replaced by a rename, whose modification time is used for something
    else (the local cache records each use in it)."""
    return (stat.st_dev, stat.st_ino, stat.st_size)


def written_stamp(stat: os.stat_result) -> tuple[int, ...]:
    """For files something may also write in place: a bit flipped by hand changes the time."""
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


class CheckedFiles:
    """Local files this process has hashed to their names, each hashed again only once its
    stamp changes. ezkl reads keys by path with no check of its own, and a damaged proving key
    surfaces only as an unsatisfied circuit after a whole proof; hashing a key once per copy
    (and process) instead of on every proof keeps that check cheap."""

    def __init__(self, stamp: FileStamp) -> None:
        self._stamp = stamp
        self._checked: dict[Path, tuple[str, tuple[int, ...]]] = {}

    def check(self, digest: str, path: Path, what: str) -> None:
        """Raises ArtifactCorrupt if path does not hash to digest."""
        stamp = self._stamp(path.stat())
        if self._checked.get(path) == (digest, stamp):
            return
        check_digest(digest, hash_file(path), what)
        self._checked[path] = (digest, stamp)

    def record(self, digest: str, path: Path) -> None:
        """Notes a file the caller has just hashed to digest itself."""
        self._checked[path] = (digest, self._stamp(path.stat()))
