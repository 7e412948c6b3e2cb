"""Local artifact files this process has hashed to their names, so that each copy is hashed
once, not on every use.

ezkl reads keys by path with no check of its own, and a damaged proving key surfaces only as
an unsatisfied circuit after a whole proof; hashing a key once per copy (and process) instead
of on every proof keeps that check cheap. A copy is known by a stamp of its file status, and
hashed again once the stamp changes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from zkgate.prover.artifacts.digests import check_digest, hash_file

FileStamp = Callable[[os.stat_result], tuple[int, ...]]


def placed_stamp(stat: os.stat_result) -> tuple[int, ...]:
    """For files only ever replaced by a rename, whose modification time is used for something
    else (the local cache records each use in it)."""
    return (stat.st_dev, stat.st_ino, stat.st_size)


def written_stamp(stat: os.stat_result) -> tuple[int, ...]:
    """For files something may also write in place: a bit flipped by hand changes the time."""
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


class CheckedFiles:
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
