"""Archives of named arrays (.npz) from someone else, read with the care `load_npy` takes.

A model with several inputs is calibrated with one array per input, and numpy's way to send
named arrays is `numpy.savez`: a zip of .npy members. `np.load` would open any zip, trust each
member's declared size (a few KB of deflated zeros can declare gigabytes), and hand an object
member to pickle. Here the archive must be a plain zip of at most MAX_MEMBERS stored or deflated
.npy members, unencrypted, with distinct names and at most MAX_ARCHIVE_BYTES in all once
inflated; a member is inflated only up to its declared size (zipfile then checks its CRC, so a
member larger than declared fails instead of growing), and each is read by `load_npy`, which
refuses pickles and lying headers.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import numpy.typing as npt

from zkgate.core.array_rows import RowsError, load_npy

# A model with more inputs than this has no calibration set anyone would upload in one call.
MAX_MEMBERS = 256
# The inflated size of every member together: what a reader holds in memory at once.
MAX_ARCHIVE_BYTES = 256 * 1024 * 1024
NPY_SUFFIX = ".npy"
# Every zip starts with a local file header or, empty, an end of central directory: both "PK".
ZIP_MAGIC = b"PK"
_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
# What zipfile and zlib raise on archives that are truncated, corrupt or of an unknown kind.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


def load_npz(
    data: bytes,
    what: str,
    error: Callable[[str], Exception] = RowsError,
    *,
    max_bytes: int = MAX_ARCHIVE_BYTES,
) -> dict[str, npt.NDArray[Any]]:
    """The arrays of a .npz archive by name (the member name without `.npy`), in archive
    order; anything else raises `error` saying what is wrong."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as exc:
        raise error(f"{what} is not a .npz archive ({exc}); save it with numpy.savez") from exc
    with archive:
        members = _checked_members(archive.infolist(), what, error, max_bytes)
        arrays: dict[str, npt.NDArray[Any]] = {}
        for name, info in members:
            try:
                with archive.open(info) as member:
                    raw = member.read(info.file_size)
                    if member.read(1):
                        raise zipfile.BadZipFile("the member is longer than it declares")
            except _ZIP_ERRORS as exc:
                raise error(f"{what}: member {name!r} cannot be read ({exc})") from exc
            arrays[name] = load_npy(raw, f"{what}: array {name!r}", error)
    return arrays


def _checked_members(
    infos: list[zipfile.ZipInfo],
    what: str,
    error: Callable[[str], Exception],
    max_bytes: int,
) -> list[tuple[str, zipfile.ZipInfo]]:
    """(array name, member) for every member, once the archive's shape is known to be safe."""
    if not 1 <= len(infos) <= MAX_MEMBERS:
        raise error(f"{what} holds {len(infos)} members; a .npz must hold 1 to {MAX_MEMBERS}")
    named: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        shown = repr(info.filename[:80])
        if info.is_dir() or not info.filename.endswith(NPY_SUFFIX):
            raise error(f"{what}: member {shown} is not a .npy array; save it with numpy.savez")
        if info.flag_bits & 0x1:
            raise error(f"{what}: member {shown} is encrypted")
        if info.compress_type not in _METHODS:
            raise error(f"{what}: member {shown} is compressed in a way numpy.savez never uses")
        name = info.filename.removesuffix(NPY_SUFFIX)
        if name in named:
            raise error(f"{what} holds array {name[:80]!r} twice")
        total += info.file_size
        if total > max_bytes:
            raise error(
                f"{what} inflates to more than {max_bytes:,} bytes (member {shown} declares "
                f"{info.file_size:,}); send fewer or smaller samples"
            )
        named[name] = info
    return list(named.items())


def load_npy_or_npz(
    data: bytes, what: str, error: Callable[[str], Exception] = RowsError
) -> npt.NDArray[Any] | dict[str, npt.NDArray[Any]]:
    """One array (.npy) or named arrays (.npz), told apart by the zip signature."""
    if data.startswith(ZIP_MAGIC):
        return load_npz(data, what, error)
    return load_npy(data, what, error)
