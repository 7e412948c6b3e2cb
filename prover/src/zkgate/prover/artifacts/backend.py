"""Where artifact bytes live: the backend interface, and the directory backend.

A backend only moves bytes under names it is given. Naming, the no-op on a name already stored,
and checking bytes against their name are the store's (store.py), so that they are the same on
every backend. Every write must be atomic: a reader on any node sees a whole object or none.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from zkgate.prover.artifacts.digests import (
    ArtifactNotFound,
    check_digest,
    fsync_directory,
    read_chunks,
    validate_digest,
)


class ArtifactBackend(Protocol):
    """Digests passed in are valid; for writes, the caller computed them from the bytes."""

    def stored_size(self, digest: str) -> int | None:
        """The object's size in bytes, or None if there is none."""
        ...

    def write_bytes(self, digest: str, data: bytes) -> None: ...

    def write_file(self, digest: str, source: Path, *, move: bool) -> None:
        """Streams source into the object. With move=True the backend may take the file itself
        (a rename); whatever it leaves at source is the caller's to remove."""
        ...

    def read_bytes(self, digest: str) -> bytes:
        """Raises ArtifactNotFound."""
        ...

    def read_chunks(self, digest: str) -> Iterator[bytes]:
        """The object in pieces, to hash a large one in bounded memory; raises ArtifactNotFound
        when iterated."""
        ...

    def download(self, digest: str, target: Path) -> None:
        """Writes the object to the local file target; raises ArtifactNotFound."""
        ...

    def describe(self) -> str:
        """Where the objects are, for logs and errors."""
        ...


class DirectoryBackend:
    """A local or shared directory: root/sha256/ab/cdef… for digest abcdef…; root/tmp holds files
    being written, on the same file system so that they are renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._objects = root / "sha256"
        self._tmp = root / "tmp"
        self._objects.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)

    def object_path(self, digest: str) -> Path:
        validate_digest(digest)
        return self._objects / digest[:2] / digest[2:]

    def stored_size(self, digest: str) -> int | None:
        try:
            return self.object_path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def write_bytes(self, digest: str, data: bytes) -> None:
        self._write_chunks(digest, [data])

    def write_file(self, digest: str, source: Path, *, move: bool) -> None:
        if move:
            with source.open("rb") as opened:
                os.fsync(opened.fileno())
            target = self.object_path(digest)
            target.parent.mkdir(exist_ok=True)
            try:
                source.replace(target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
            else:
                fsync_directory(target.parent)
                return
        with source.open("rb") as opened:
            self._write_chunks(digest, read_chunks(opened))

    def read_bytes(self, digest: str) -> bytes:
        try:
            return self.object_path(digest).read_bytes()
        except FileNotFoundError:
            raise ArtifactNotFound(f"no artifact {digest} in {self.root}") from None

    def read_chunks(self, digest: str) -> Iterator[bytes]:
        try:
            opened = self.object_path(digest).open("rb")
        except FileNotFoundError:
            raise ArtifactNotFound(f"no artifact {digest} in {self.root}") from None
        with opened:
            yield from read_chunks(opened)

    def download(self, digest: str, target: Path) -> None:
        try:
            shutil.copyfile(self.object_path(digest), target)
        except FileNotFoundError:
            raise ArtifactNotFound(f"no artifact {digest} in {self.root}") from None

    def describe(self) -> str:
        return str(self.root)

    def _write_chunks(self, digest: str, chunks: Iterable[bytes]) -> None:
        """Temporary file, fsync, rename. The bytes are hashed again on the way, since a source
        file that changed after the caller hashed it would otherwise be stored under a wrong
        name."""
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
        tmp = Path(tmp_name)
        try:
            hasher = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    hasher.update(chunk)
                    out.write(chunk)
                check_digest(digest, hasher.hexdigest(), "the bytes written as")
                out.flush()
                os.fsync(out.fileno())
            target = self.object_path(digest)
            target.parent.mkdir(exist_ok=True)
            # Replacing an existing copy is harmless (same bytes) and heals a damaged one.
            tmp.replace(target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_directory(target.parent)
