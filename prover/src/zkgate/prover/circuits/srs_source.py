"""Where a circuit's KZG structured reference string comes from: the configured ceremony file,
one a registration names, or a development SRS generated here.

Without a ceremony file, a development SRS is generated locally and labelled insecure-dev on
the model card, which clients refuse unless told otherwise. Nothing is ever downloaded
(ezkl.get_srs would). How ceremony files are named and checked is srs_files.py's.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import ezkl

from zkgate.core.card import SRS_ORIGIN_DEV
from zkgate.core.srs import file_sha256
from zkgate.prover.circuits.srs_files import (
    CeremonySrs,
    ResolvedSrs,
    checked_ceremony,
    inside_srs_directory,
    srs_file_logrows,
)

logger = logging.getLogger("zkgate.prover.srs")


class SrsSource:
    """Resolves the SRS for a circuit: the ceremony file if one is configured, else a cached
    development SRS of exactly the circuit's logrows."""

    def __init__(self, cache_dir: Path, ceremony: CeremonySrs | None = None) -> None:
        self._cache_dir = cache_dir
        self._ceremony = ceremony

    def resolve(self, logrows: int, *, ceremony: CeremonySrs | None = None) -> ResolvedSrs:
        """ceremony overrides the configured one for this call (a registration that names its
        own file). It comes from a remote caller, so it must name a file inside this node's SRS
        directory."""
        if ceremony is not None:
            return checked_ceremony(inside_srs_directory(ceremony, self._cache_dir), logrows)
        if self._ceremony is not None:
            return checked_ceremony(self._ceremony, logrows)
        return self._development(logrows)

    def _development(self, logrows: int) -> ResolvedSrs:
        path = self._cache_dir / f"dev-k{logrows}.srs"
        if not path.is_file():
            _generate(path, logrows)
        return ResolvedSrs(
            path=path,
            origin=SRS_ORIGIN_DEV,
            file_sha256=file_sha256(path),
            logrows=srs_file_logrows(path),
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
