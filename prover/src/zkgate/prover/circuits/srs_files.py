"""SRS files as a registration names them and as a prover checks them before keying a circuit.

Whoever knows the secret behind an SRS can forge proofs, so production uses a public ceremony
file, pinned by SHA-256 because a swapped file would silently hand that power to whoever made
it. A registration may name its own ceremony file, but only inside the provers' SRS directory:
any other path would let a caller probe the prover's file system. Nothing here imports ezkl,
so the gateway checks a requested name when the call arrives.

Measured on ezkl 23.0.5: setup and prove accept a file of larger logrows than the circuit's,
but reduce it on every call, which is costly (MLP at logrows 15: prove 47 s from a k=16 file
against 9.5 s from a k=15 file; setup 98 s against 7 s). Such a file is accepted with a
warning; a ceremony file of exactly the circuit's logrows is the one to configure.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from zkgate.core.card import SRS_ORIGIN_CEREMONY
from zkgate.core.srs import SrsFormatError, file_sha256, srs_logrows

logger = logging.getLogger("zkgate.prover.srs")


class SrsError(Exception):
    """An SRS that cannot be used: missing, not pinned as configured, malformed or too small.
    The same configuration fails the same way every time. Messages name files by their base
    name: they reach callers, who have no business learning the provers' directories."""


# Neither this nor any other message names the directory: it is the provers' business.
_OUTSIDE_SRS_DIRECTORY = (
    "a registration may only name an SRS file inside the provers' SRS directory (DATA_DIR/srs "
    "on each prover), by its name there, such as 'ceremony-k17.srs'; copy the ceremony file "
    "there (or configure it for every registration with --srs-path)"
)
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class CeremonySrs:
    """A configured ceremony file and the SHA-256 it must have."""

    path: Path
    sha256: str


@dataclass(frozen=True)
class ResolvedSrs:
    path: Path
    origin: str
    file_sha256: str
    logrows: int
    """The file's own logrows, which may exceed the circuit's for a ceremony file."""


def requested_ceremony(path: str, sha256: str, srs_directory: Path) -> str:
    """The name, relative to the provers' SRS directory, of the ceremony file a registration
    asks for, checked when the call arrives instead of in the job. An absolute path is taken
    only inside srs_directory (this node's, which its provers share) and made relative, so
    that the job names a file the same way on every prover. Names only, symbolic links are the
    prover's to resolve (see inside_srs_directory)."""
    if not _SHA256.fullmatch(sha256):
        raise SrsError(
            "srs_sha256 must be the ceremony file's SHA-256 as 64 hexadecimal digits "
            "(`sha256sum FILE`)"
        )
    name = PurePosixPath(os.path.normpath(path))
    if name.is_absolute():
        directory = PurePosixPath(os.path.normpath(srs_directory.absolute()))
        if not name.is_relative_to(directory):
            raise SrsError(_OUTSIDE_SRS_DIRECTORY)
        name = name.relative_to(directory)
    if name.parts[:1] in ((), ("..",), (".",)):
        raise SrsError(_OUTSIDE_SRS_DIRECTORY)
    return str(name)


def inside_srs_directory(ceremony: CeremonySrs, srs_directory: Path) -> CeremonySrs:
    """A requested ceremony file, checked again on the prover, symbolic links resolved: the
    gateway checked the name alone."""
    directory = srs_directory.resolve()
    path = (directory / ceremony.path).resolve()
    if not path.is_relative_to(directory):
        raise SrsError(_OUTSIDE_SRS_DIRECTORY)
    return CeremonySrs(path=path, sha256=ceremony.sha256)


def checked_ceremony(ceremony: CeremonySrs, logrows: int) -> ResolvedSrs:
    if not ceremony.path.is_file():
        raise SrsError(f"the ceremony SRS {ceremony.path.name!r} does not exist")
    actual = file_sha256(ceremony.path)
    if actual != ceremony.sha256.lower():
        raise SrsError(
            f"the ceremony SRS {ceremony.path.name!r} does not have the pinned SHA-256 "
            f"{ceremony.sha256}: the file was replaced or corrupted; restore the published file "
            "or correct the pin"
        )
    file_logrows = srs_file_logrows(ceremony.path)
    if file_logrows < logrows:
        raise SrsError(
            f"the ceremony SRS {ceremony.path.name!r} has logrows {file_logrows} but the circuit "
            f"needs {logrows}: configure the ceremony file of logrows {logrows} (or lower "
            "max_logrows)"
        )
    if file_logrows > logrows:
        logger.warning(
            "ceremony SRS %s has logrows %d for a circuit of logrows %d: ezkl reduces it on "
            "every setup and prove, which costs several times the proof itself; configure the "
            "file of logrows %d",
            ceremony.path,
            file_logrows,
            logrows,
            logrows,
        )
    return ResolvedSrs(
        path=ceremony.path, origin=SRS_ORIGIN_CEREMONY, file_sha256=actual, logrows=file_logrows
    )


def srs_file_logrows(path: Path) -> int:
    try:
        return srs_logrows(path.read_bytes())
    except SrsFormatError as exc:
        raise SrsError(f"{path.name!r} is not a usable KZG SRS file: {exc}") from exc
