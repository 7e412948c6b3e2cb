"""A prover node's local copies of remote artifacts, under a byte budget.

ezkl opens keys by path, so an artifact held in a bucket or on a network volume must be a local
file while it is used. Proving keys run to gigabytes, so copies are kept for the next proof of
the same model, least recently used first out when the budget is exceeded. Being named by
their digest, copies never go stale; each download is checked against its name before use, and
each copy once more by every process that uses it, so that a copy damaged on this disk is
downloaded again rather than handed to ezkl.

Several prover processes of one node may share the directory. Locks are flock(2) locks, which
the kernel drops when a process dies, so a crash leaves nothing locked:
- root/lock, held briefly while the directory changes (pinning, placing, evicting);
- a shared lock on each object while a caller uses it (a pin): eviction skips any object it
  cannot lock exclusively, so a file is never removed under ezkl. Pinned files may take the
  cache over its budget; they are evicted once released;
- an exclusive lock on each download's directory under root/tmp, so that a starting process
  removes only what crashed downloads left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from zkgate.prover.artifacts.backend import ArtifactBackend
from zkgate.prover.artifacts.checked_files import CheckedFiles, placed_stamp
from zkgate.prover.artifacts.digests import (
    ArtifactCorrupt,
    ArtifactNotFound,
    Digest,
    check_digest,
    hash_file,
)

logger = logging.getLogger("zkgate.prover.cache")


@dataclass(frozen=True)
class CacheAccess:
    """One request for a local copy: hit if it was already on disk, else it was downloaded."""

    digest: str
    hit: bool
    size: int


CacheListener = Callable[[CacheAccess], None]


class LocalCache:
    def __init__(
        self, root: Path, *, max_bytes: int, on_access: CacheListener | None = None
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"a cache needs a positive byte budget, got {max_bytes}")
        self.root = root
        self.max_bytes = max_bytes
        self._on_access = on_access
        self._objects = root / "sha256"
        self._tmp = root / "tmp"
        self._objects.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._lock_path = root / "lock"
        # Each use touches a copy's modification time (for eviction), so copies are known by
        # inode: a copy is only ever placed by a rename.
        self._checked = CheckedFiles(placed_stamp)
        with self._locked():
            self._remove_abandoned_downloads()

    def digests(self) -> frozenset[str]:
        return frozenset(entry.parent.name + entry.name for entry in self._objects.glob("*/*"))

    def used_bytes(self) -> int:
        return sum(size for _, size, _ in self._entries())

    @contextmanager
    def pinned(self, digest: Digest, origin: ArtifactBackend) -> Iterator[Path]:
        """A local file holding the artifact, kept on disk until the block ends. On a miss it
        is downloaded from origin, and checked against the digest before anyone sees it."""
        target = self._path(digest)
        with self._locked():
            fd = _pin(target)
        if fd is not None and not self._intact(digest, target, fd):
            os.close(fd)
            fd = None
        hit = fd is not None
        if fd is None:
            fd = self._download(digest, target, origin)
        if self._on_access is not None:
            self._on_access(CacheAccess(digest=digest, hit=hit, size=os.fstat(fd).st_size))
        try:
            yield target
        finally:
            os.close(fd)

    def _intact(self, digest: Digest, target: Path, fd: int) -> bool:
        """Whether the pinned copy still hashes to its name (once per copy and process); a
        damaged one is removed, so that it is downloaded again instead of failing every proof
        that reads it."""
        try:
            self._checked.check(digest, target, "cached artifact")
        except ArtifactCorrupt as exc:
            logger.warning("removing a damaged cached copy, to download it again: %s", exc)
            # Unless another process has already removed it, or replaced it with a good copy.
            with self._locked(), contextlib.suppress(FileNotFoundError):
                if target.stat().st_ino == os.fstat(fd).st_ino:
                    target.unlink()
            return False
        return True

    def adopt(self, digest: Digest, source: Path) -> None:
        """Takes a file the caller knows to hash to digest (a proving key it just made and
        stored) by renaming it into the cache; a source on another file system is removed."""
        target = self._path(digest)
        target.parent.mkdir(exist_ok=True)
        with self._locked():
            if target.is_file():
                source.unlink()
                return
            try:
                source.replace(target)
            except OSError:
                source.unlink()
                return
            _touch(target)
            self._evict_down_to(self.max_bytes)

    def _download(self, digest: Digest, target: Path, origin: ArtifactBackend) -> int:
        """Fetches, checks and places the artifact; returns the pinning descriptor."""
        size = origin.stored_size(digest)
        if size is None:
            raise ArtifactNotFound(f"no artifact {digest} in {origin.describe()}")
        with self._locked():
            self._evict_down_to(self.max_bytes - size)
            workdir = Path(tempfile.mkdtemp(dir=self._tmp, prefix=digest[:12] + "-"))
            workdir_fd = _locked_fd(workdir, fcntl.LOCK_EX)
        try:
            fetched = workdir / "object"
            started = time.monotonic()
            origin.download(digest, fetched)
            check_digest(digest, hash_file(fetched), "the downloaded artifact")
            logger.info(
                "cached artifact %s (%d bytes) in %.1f s",
                digest,
                size,
                time.monotonic() - started,
            )
            target.parent.mkdir(exist_ok=True)
            with self._locked():
                # Another process may have placed it meanwhile; its copy may already be pinned,
                # so it must not be replaced.
                if not target.is_file():
                    fetched.replace(target)
                    self._checked.record(digest, target)
                fd = _pin(target)
                self._evict_down_to(self.max_bytes)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            os.close(workdir_fd)
        if fd is None:
            raise RuntimeError(f"cached artifact {digest} vanished while being placed")
        return fd

    def _entries(self) -> list[tuple[int, int, Path]]:
        """(last use in ns, size, path) of every object."""
        entries = []
        for path in self._objects.glob("*/*"):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            entries.append((stat.st_mtime_ns, stat.st_size, path))
        return entries

    def _evict_down_to(self, limit: int) -> None:
        """Removes the least recently used unpinned objects until at most limit bytes remain
        (or only pinned ones do). Called with root/lock held."""
        entries = sorted(self._entries())
        used = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if used <= limit:
                return
            try:
                fd = _locked_fd(path, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            try:
                path.unlink()
            finally:
                os.close(fd)
            used -= size
            logger.info("evicted cached artifact %s (%d bytes)", path.parent.name + path.name, size)

    def _remove_abandoned_downloads(self) -> None:
        for workdir in self._tmp.iterdir():
            try:
                fd = _locked_fd(workdir, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            try:
                shutil.rmtree(workdir, ignore_errors=True)
            finally:
                os.close(fd)

    def _path(self, digest: Digest) -> Path:
        return self._objects / digest[:2] / digest[2:]

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _pin(path: Path) -> int | None:
    """A descriptor holding a shared lock on path, which is marked used now; None if path is
    not cached. Called with root/lock held, so that no eviction runs between the lookup and
    the lock."""
    try:
        fd = _locked_fd(path, fcntl.LOCK_SH)
    except FileNotFoundError:
        return None
    _touch(path)
    return fd


def _locked_fd(path: Path, operation: int) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, operation)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _touch(path: Path) -> None:
    """Records a use in the file's modification time, which eviction orders by (access times
    are not reliable: most file systems are mounted relatime or noatime)."""
    now = time.time_ns()
    os.utime(path, ns=(now, now))
