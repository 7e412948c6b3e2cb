"""The proof-of-learning archive: one zip file carrying a proof directory between machines.

Archives come from other parties, and a zip's sizes are its author's word: 1.5 MB of deflated
zeros can declare, and expand to, 1.5 GiB. So an archive is read in the order that bounds it.
The manifest comes first, under a fixed cap, and through the bounded document layer; what it
claims (architecture, optimizer, dataset size, checkpoint count) fixes which files the archive
may hold and how many bytes each may expand to (`learning_layout`). Every other entry must be
one of those files; its declared size is checked before reading, and its actual decompressed
bytes are counted while it is streamed to disk, never held whole in memory. No torch is
needed, so a gateway refuses a bad upload when it is sent, not minutes later in a job.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from zkgate.core.documents import quote
from zkgate.core.learning.layout import (
    MANIFEST_NAME,
    MAX_CHECKPOINTS,
    MAX_MANIFEST_BYTES,
    MAX_PARAMETERS,
    LayoutError,
    ProofShape,
    manifest_shape,
)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
# The files of a proof at most, and a few directory entries some zip tools add.
MAX_ENTRIES = MAX_CHECKPOINTS + 16
_CHUNK = 1 << 20
# Fixed entry times make the archive a function of the files alone: packing the same proof twice
# gives the same bytes, and so the same artifact digest.
_EPOCH = (1980, 1, 1, 0, 0, 0)
# What zipfile raises, opening or decompressing, for a corrupt or unsupported archive (found
# by fuzzing: a bad central directory gives IndexError, a bad offset ValueError, an unknown
# version NotImplementedError, a bad file name UnicodeDecodeError, a ValueError too).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
    IndexError,
    ValueError,
)


class ArchiveError(ValueError):
    """An archive that is not a zip, is unsafe to unpack, or lacks a manifest."""


def _open(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as exc:
        raise ArchiveError(f"not a zip archive ({len(data):,} bytes): {exc}") from exc


def _entries(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Files by name: plain relative paths, each once, none encrypted."""
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ArchiveError(f"archive has {len(infos):,} entries; the limit is {MAX_ENTRIES:,}")
    entries: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        if not info.filename:  # ZipInfo.is_dir() would index the empty name
            raise ArchiveError("archive holds an entry without a name")
        name = info.filename.removesuffix("/") if info.is_dir() else info.filename
        if not _SAFE_NAME.match(name) or ".." in name.split("/"):
            raise ArchiveError(f"archive entry {quote(info.filename)} is not a plain relative path")
        if info.is_dir():
            continue
        if name in entries:
            raise ArchiveError(f"archive holds {quote(name)} twice")
        if info.flag_bits & 0x1:
            raise ArchiveError(f"archive entry {quote(name)} is encrypted")
        entries[name] = info
    if MANIFEST_NAME not in entries:
        raise ArchiveError(f"archive has no {MANIFEST_NAME}; pack a `zkgate pol record` directory")
    return entries


def _chunks(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> Iterator[bytes]:
    """The entry's decompressed bytes, refusing to produce more than `limit` of them."""
    produced = 0
    try:
        with archive.open(info) as source:
            while chunk := source.read(_CHUNK):
                produced += len(chunk)
                if produced > limit:
                    raise ArchiveError(
                        f"archive entry {info.filename!r} expands past the {limit:,} bytes "
                        "this proof's size allows"
                    )
                yield chunk
    except ArchiveError:
        raise
    except _ZIP_ERRORS as exc:
        raise ArchiveError(f"archive entry {info.filename!r} is corrupt: {exc}") from exc


def _read_manifest(archive: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo]) -> bytes:
    info = entries[MANIFEST_NAME]
    if info.file_size > MAX_MANIFEST_BYTES:
        raise ArchiveError(
            f"{MANIFEST_NAME} declares {info.file_size:,} bytes; the limit is "
            f"{MAX_MANIFEST_BYTES:,}"
        )
    return b"".join(_chunks(archive, info, MAX_MANIFEST_BYTES))


def _shape(manifest: bytes, entries: dict[str, zipfile.ZipInfo], max_parameters: int) -> ProofShape:
    """The manifest's claims, capped, and every entry's declared size within its budget."""
    try:
        shape = manifest_shape(manifest).check(max_parameters=max_parameters)
        for name, info in entries.items():
            shape.check_file(name, info.file_size)
    except LayoutError as exc:
        raise ArchiveError(str(exc)) from exc
    return shape


def check_archive(data: bytes, *, max_parameters: int = MAX_PARAMETERS) -> bytes:
    """Raises ArchiveError unless the manifest reads, its claims are within the caps, and every
    entry is a file of the proof declaring no more than its budget. Cheap: only the manifest
    is decompressed; `extract_archive` counts the rest as it streams. Returns the manifest's
    bytes, for a caller that needs what it says (a gateway reads the training intent)."""
    with _open(data) as archive:
        entries = _entries(archive)
        manifest = _read_manifest(archive, entries)
        _shape(manifest, entries, max_parameters)
        return manifest


def extract_archive(
    data: bytes, destination: Path, *, max_parameters: int = MAX_PARAMETERS
) -> Path:
    """Unpacks into `destination` (created; must be empty) and returns it. `max_parameters`
    tightens the cap, for a caller that knows the model the proof must be about."""
    destination.mkdir(parents=True, exist_ok=True)
    if any(destination.iterdir()):
        raise ArchiveError(f"{destination} is not empty")
    with _open(data) as archive:
        entries = _entries(archive)
        shape = _shape(_read_manifest(archive, entries), entries, max_parameters)
        for name, info in entries.items():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as sink:
                _stream(archive, info, shape, sink)
    return destination


def _stream(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, shape: ProofShape, sink: BinaryIO
) -> None:
    budget = shape.budget(info.filename)
    assert budget is not None  # every entry was checked against the layout
    for chunk in _chunks(archive, info, budget):
        sink.write(chunk)


def build_archive(source: Path) -> bytes:
    """Packs every file under `source`, sorted, with fixed times."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()
