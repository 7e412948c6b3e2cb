"""Where a circuit's KZG structured reference string comes from.

Whoever knows the secret behind an SRS can forge proofs, so production uses a public ceremony
file, pinned by SHA-256 because a swapped file would silently hand that power to whoever made
it. Without one, a development SRS is generated locally and labelled insecure-dev on the model
card, which clients refuse unless told otherwise. Nothing is ever downloaded (ezkl.get_srs
would).

Measured on ezkl 23.0.5: setup and prove accept a file of larger logrows than the circuit's,
but reduce it on every call, which is costly (MLP at logrows 15: prove 47 s from a k=16 file
against 9.5 s from a k=15 file; setup 98 s against 7 s). Such a file is accepted with a
warning; a ceremony file of exactly the circuit's logrows is the one to configure.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import ezkl

from zkgate.core.card import SRS_ORIGIN_CEREMONY, SRS_ORIGIN_DEV
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


def requested_ceremony(path: str, sha256: str, srs_directory: Path) -> str:
    """The name, relative to the provers' SRS directory, of the ceremony file a registration
    asks for, checked when the call arrives instead of in the job. An absolute path is taken
    only inside srs_directory (this node's, which its provers share) and made relative, so
    that the job names a file the same way on every prover. Names only, symbolic links are the
    prover's to resolve (see SrsSource.resolve)."""
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


class SrsSource:
    """Resolves the SRS for a circuit: the ceremony file if one is configured, else a cached
    development SRS of exactly the circuit's logrows."""

    def __init__(self, cache_dir: Path, ceremony: CeremonySrs | None = None) -> None:
        self._cache_dir = cache_dir
        self._ceremony = ceremony

    def resolve(self, logrows: int, *, ceremony: CeremonySrs | None = None) -> ResolvedSrs:
        """ceremony overrides the configured one for this call (a registration that names its
        own file). It comes from a remote caller, so it must name a file inside this node's SRS
        directory: any other path would let a caller probe the prover's file system."""
        if ceremony is not None:
            return _checked_ceremony(self._inside_srs_directory(ceremony), logrows)
        if self._ceremony is not None:
            return _checked_ceremony(self._ceremony, logrows)
        return self._development(logrows)

    def _inside_srs_directory(self, ceremony: CeremonySrs) -> CeremonySrs:
        """Checked again here, symbolic links resolved: the gateway checked the name alone."""
        directory = self._cache_dir.resolve()
        path = (directory / ceremony.path).resolve()
        if not path.is_relative_to(directory):
            raise SrsError(_OUTSIDE_SRS_DIRECTORY)
        return CeremonySrs(path=path, sha256=ceremony.sha256)

    def _development(self, logrows: int) -> ResolvedSrs:
        path = self._cache_dir / f"dev-k{logrows}.srs"
        if not path.is_file():
            _generate(path, logrows)
        return ResolvedSrs(
            path=path,
            origin=SRS_ORIGIN_DEV,
            file_sha256=file_sha256(path),
            logrows=_file_logrows(path),
        )


def _generate(path: Path, logrows: int) -> None:
    """Generates under a temporary name and links it into place without replacing: workers
    racing on the same logrows all end up using the first file, never one another's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logger.warning("generating an insecure development SRS of logrows %d at %s", logrows, path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        ezkl.gen_srs(str(tmp), logrows)
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            logger.info("another process generated %s first; using its file", path)
    finally:
        tmp.unlink(missing_ok=True)


def _checked_ceremony(ceremony: CeremonySrs, logrows: int) -> ResolvedSrs:
    if not ceremony.path.is_file():
        raise SrsError(f"the ceremony SRS {ceremony.path.name!r} does not exist")
    actual = file_sha256(ceremony.path)
    if actual != ceremony.sha256.lower():
        raise SrsError(
            f"the ceremony SRS {ceremony.path.name!r} does not have the pinned SHA-256 "
            f"{ceremony.sha256}: the file was replaced or corrupted; restore the published file "
            "or correct the pin"
        )
    file_logrows = _file_logrows(ceremony.path)
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


def _file_logrows(path: Path) -> int:
    try:
        return srs_logrows(path.read_bytes())
    except SrsFormatError as exc:
        raise SrsError(f"{path.name!r} is not a usable KZG SRS file: {exc}") from exc
