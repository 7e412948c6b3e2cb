"""Content-addressed artifact store shared by the gateway and the provers.

Artifacts are named by their SHA-256, so a name can never point at other bytes and a writer
never needs a lock: two writers of the same name write the same bytes. Files appear atomically
(temporary file, fsync, rename), so a reader in another process sees a whole artifact or none.
ezkl works on file paths, hence path().
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 1 << 20
_DIGEST = re.compile(r"[0-9a-f]{64}")


class ArtifactNotFound(LookupError):
    pass


class ArtifactCorrupt(RuntimeError):
    """The bytes on disk no longer hash to their name: disk damage or tampering."""


def validate_digest(digest: str) -> str:
    """Returns the digest if it is 64 lowercase hex characters; anything else could escape the
    store's directory once joined to a path."""
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"not a SHA-256 digest (64 lowercase hex characters): {digest!r}")
    return digest


class ArtifactStore:
    """Layout: root/sha256/ab/cdef… for digest abcdef…; root/tmp holds files being written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._objects = root / "sha256"
        self._tmp = root / "tmp"
        self._objects.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)

    def put_bytes(self, data: bytes) -> str:
        return self._write_chunks([data])

    def put_file(self, path: Path, *, move: bool = False) -> str:
        """Stores a copy of path, or, with move=True, takes the file itself (a rename on the same
        file system, which saves copying a multi-gigabyte proving key)."""
        if not move:
            with path.open("rb") as source:
                return self._write_chunks(_chunks(source))
        digest = _hash_file(path)
        with path.open("rb") as source:
            os.fsync(source.fileno())
        target = self._object_path(digest)
        target.parent.mkdir(exist_ok=True)
        try:
            path.replace(target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            with path.open("rb") as source:
                self._write_chunks(_chunks(source))
            path.unlink()
        _fsync_directory(target.parent)
        return digest

    def read_bytes(self, digest: str) -> bytes:
        try:
            data = self._object_path(digest).read_bytes()
        except FileNotFoundError:
            raise ArtifactNotFound(f"no artifact {digest}") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise ArtifactCorrupt(f"artifact {digest} hashes to {actual}")
        return data

    def verify(self, digest: str) -> None:
        """Rehashes a stored artifact without loading it into memory; for files handed to ezkl
        by path, which path() does not check."""
        actual = _hash_file(self.path(digest))
        if actual != digest:
            raise ArtifactCorrupt(f"artifact {digest} hashes to {actual}")

    def path(self, digest: str) -> Path:
        target = self._object_path(digest)
        if not target.is_file():
            raise ArtifactNotFound(f"no artifact {digest}")
        return target

    def exists(self, digest: str) -> bool:
        return self._object_path(digest).is_file()

    def size(self, digest: str) -> int:
        return self.path(digest).stat().st_size

    def _object_path(self, digest: str) -> Path:
        validate_digest(digest)
        return self._objects / digest[:2] / digest[2:]

    def _write_chunks(self, chunks: Iterable[bytes]) -> str:
        hasher = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    hasher.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = hasher.hexdigest()
            target = self._object_path(digest)
            target.parent.mkdir(exist_ok=True)
            # Replacing an existing copy is harmless (same bytes) and heals a damaged one.
            tmp.replace(target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_directory(target.parent)
        return digest


def _chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(CHUNK_BYTES):
        yield chunk


def _hash_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in _chunks(source):
            hasher.update(chunk)
    return hasher.hexdigest()


def _fsync_directory(directory: Path) -> None:
    """Makes a rename durable: the new directory entry survives a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
