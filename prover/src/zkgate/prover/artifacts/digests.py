"""Names of artifacts (SHA-256 digests), hashing bytes to them, and the errors every layer of
the artifact store reports.

A digest from outside (a job's payload, a card, a request) is checked once, where it enters
the store (ArtifactStore's methods), and becomes a Digest; a hash computed here is one by
construction. Backends and the local cache take only Digests, so they never check again:
joined to a path or an object key, anything else could escape the store's directory or
prefix.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, NewType

Digest = NewType("Digest", str)

CHUNK_BYTES = 1 << 20
_DIGEST = re.compile(r"[0-9a-f]{64}")


class ArtifactNotFound(LookupError):
    pass


class ArtifactCorrupt(RuntimeError):
    """Bytes do not hash to their name: disk damage, tampering, or a transfer gone wrong."""


def validate_digest(digest: str) -> Digest:
    """The digest, if it is 64 lowercase hex characters."""
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"not a SHA-256 digest (64 lowercase hex characters): {digest!r}")
    return Digest(digest)


def check_digest(expected: str, actual: str, what: str = "artifact") -> None:
    if actual != expected:
        raise ArtifactCorrupt(f"{what} {expected} hashes to {actual}")


def read_chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(CHUNK_BYTES):
        yield chunk


def hash_bytes(data: bytes) -> Digest:
    return Digest(hashlib.sha256(data).hexdigest())


def hash_chunks(chunks: Iterable[bytes]) -> Digest:
    hasher = hashlib.sha256()
    for chunk in chunks:
        hasher.update(chunk)
    return Digest(hasher.hexdigest())


def hash_file(path: Path) -> Digest:
    with path.open("rb") as source:
        return hash_chunks(read_chunks(source))
