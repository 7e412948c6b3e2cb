"""Where artifact bytes live: the backend interface, and the directory backend.

A backend only moves bytes under names it is given, already checked (Digest, see digests.py).
Naming, the no-op on a name already stored, and checking bytes against their name are the
store's (store.py), so that they are the same on every backend. Every write must be atomic: a
reader on any node sees a whole object or none.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from zkgate.prover.artifacts.digests import ArtifactNotFound, Digest, check_digest, read_chunks


class ArtifactBackend(Protocol):
    """For writes, the caller computed the digest from the bytes."""

    def stored_size(self, digest: Digest) -> int | None:
        """The object's size in bytes, or None if there is none."""
        ...

    def write_bytes(self, digest: Digest, data: bytes) -> None: ...

    def write_file(self, digest: Digest, source: Path, *, move: bool) -> None:
        """Streams source into the object. With move=True the backend may take the file itself
        (a rename); whatever it leaves at source is the caller's to remove."""
        ...

    def read_bytes(self, digest: Digest) -> bytes:
        """Raises ArtifactNotFound."""
        ...

    def download(self, digest: Digest, target: Path) -> None:
        """Writes the object to the local file target; raises ArtifactNotFound."""
        ...

    def delete(self, digest: Digest) -> None:
        """Removes the object; no error when there is none."""
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

    def object_path(self, digest: Digest) -> Path:
        return self._objects / digest[:2] / digest[2:]

    def stored_size(self, digest: Digest) -> int | None:
        try:
            return self.object_path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def write_bytes(self, digest: Digest, data: bytes) -> None:
        self._write_chunks(digest, [data])

    def write_file(self, digest: Digest, source: Path, *, move: bool) -> None:
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
                _fsync_directory(target.parent)
                return
        with source.open("rb") as opened:
            self._write_chunks(digest, read_chunks(opened))

    def read_bytes(self, digest: Digest) -> bytes:
        try:
            return self.object_path(digest).read_bytes()
        except FileNotFoundError:
            raise ArtifactNotFound(f"no artifact {digest} in {self.root}") from None

    def download(self, digest: Digest, target: Path) -> None:
        try:
            shutil.copyfile(self.object_path(digest), target)
        except FileNotFoundError:
            raise ArtifactNotFound(f"no artifact {digest} in {self.root}") from None

    def delete(self, digest: Digest) -> None:
        self.object_path(digest).unlink(missing_ok=True)

    def describe(self) -> str:
        return str(self.root)

    def _write_chunks(self, digest: Digest, chunks: Iterable[bytes]) -> None:
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
        _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Makes a rename durable: the new directory entry survives a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
