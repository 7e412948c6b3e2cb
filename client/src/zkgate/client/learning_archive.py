"""The proof-of-learning archive: one zip file carrying a proof directory between machines.

Archives come from other parties, so reading one is defensive: entry names must be plain relative
paths (no `..`, no absolute paths, no links), and the entry count and total unpacked size are
capped before anything is written. The checks run without torch, so a gateway can refuse a bad
archive when it is sent, not minutes later in a job.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

MANIFEST_NAME = "manifest.json"
MAX_ENTRIES = 100_000
MAX_UNPACKED_BYTES = 8 << 30
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
# Fixed entry times make the archive a function of the files alone: packing the same proof twice
# gives the same bytes, and so the same artifact digest.
_EPOCH = (1980, 1, 1, 0, 0, 0)


class ArchiveError(ValueError):
    """An archive that is not a zip, is unsafe to unpack, or lacks a manifest."""


def _entries(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    entries = [info for info in archive.infolist() if not info.is_dir()]
    if len(entries) > MAX_ENTRIES:
        raise ArchiveError(f"archive has {len(entries)} entries; the limit is {MAX_ENTRIES}")
    total = 0
    for info in entries:
        if not _SAFE_NAME.match(info.filename) or ".." in info.filename.split("/"):
            raise ArchiveError(f"archive entry {info.filename!r} is not a plain relative path")
        total += info.file_size
    if total > MAX_UNPACKED_BYTES:
        raise ArchiveError(f"archive unpacks to {total} bytes; the limit is {MAX_UNPACKED_BYTES}")
    if MANIFEST_NAME not in {info.filename for info in entries}:
        raise ArchiveError(f"archive has no {MANIFEST_NAME}; pack a `zkgate pol record` directory")
    return entries


def _open(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ArchiveError(f"not a zip archive ({len(data)} bytes): {exc}") from exc


def check_archive(data: bytes) -> None:
    """Raises ArchiveError unless `data` is an archive `extract_archive` would accept."""
    with _open(data) as archive:
        _entries(archive)


def extract_archive(data: bytes, destination: Path) -> Path:
    """Unpacks into `destination` (created; must be empty) and returns it."""
    destination.mkdir(parents=True, exist_ok=True)
    if any(destination.iterdir()):
        raise ArchiveError(f"{destination} is not empty")
    with _open(data) as archive:
        for info in _entries(archive):
            target = destination / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                target.write_bytes(archive.read(info))
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise ArchiveError(f"archive entry {info.filename!r} is corrupt: {exc}") from exc
    return destination


def build_archive(source: Path) -> bytes:
    """Packs every file under `source`, sorted, with fixed times."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    data = buffer.getvalue()
    check_archive(data)
    return data
