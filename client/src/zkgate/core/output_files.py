"""Where commands put their results: paths checked before the work, files written atomically.

A command that proves for minutes and then finds its output directory missing has lost the
work, and one interrupted halfway through a write leaves a truncated certificate or prediction
that looks like a tampered one. So every command checks its output paths before it does
anything, and writes each file whole or not at all (a temporary file in the same directory,
then a rename over the old one, which is atomic on POSIX and Windows).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Files are created with the permissions an ordinary open() would give them; mkstemp's 0600
# would hide a certificate from the other users it is meant for. Read once, at import.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


class OutputPathError(ValueError):
    """An output path the command could not write to; found before any work is done."""


def _writable_directory(directory: Path, what: str) -> None:
    if not directory.is_dir():
        raise OutputPathError(f"{what}: {directory} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what}: directory {directory} is not writable")


def check_output_file(path: Path, what: str) -> Path:
    """`path` can be written: its directory exists and is writable, and it is not a directory
    itself. Returned unchanged, so argparse can use this as a `type=`."""
    parent = path.parent
    if not parent.exists():
        raise OutputPathError(f"{what} {path}: directory {parent} does not exist (create it first)")
    _writable_directory(parent, what)
    if path.is_dir():
        raise OutputPathError(f"{what} {path} is a directory; name a file")
    return path


def check_output_directory(directory: Path, what: str) -> Path:
    """`directory` exists as a writable directory, or can be created: its nearest existing
    ancestor is one. Nothing is created here; `write_atomic` creates what is missing."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    _writable_directory(existing, what)
    return directory


def write_atomic(path: Path, data: bytes | str) -> None:
    """Writes `data` (str as UTF-8) to `path` all at once: a reader sees the old file or the
    whole new one, never a part. Missing parent directories are created."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
