"""The verifier's slice of a KZG structured reference string, and its identity.

A halo2 KZG verifier touches only the first G1 point and the two G2 points of the SRS, so a
client never needs the prover's multi-megabyte file: a k=1 slice of it verifies the same proofs
(FACTS). The slice's hash identifies the SRS for the model commitment; whoever knows the toxic
waste behind an SRS can forge proofs, so this identity is what a client decides to trust.

File layout (halo2 `ParamsKZG` raw serialisation): u32 little-endian k, then 2^k G1 points of
the monomial basis, then 2^k G1 points of the Lagrange basis, then the G2 generator and s·G2.
G1 points take 64 bytes and G2 points 128 bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from zkgate.core.canonical import sha256_hex

_G1 = 64
_G2 = 128
SLICE_LOGROWS = 1


class SrsFormatError(ValueError):
    """Bytes that are not a halo2 KZG parameter file."""


def _logrows(data: bytes) -> int:
    if len(data) < 4:
        raise SrsFormatError("SRS file is shorter than its 4-byte header")
    k = int.from_bytes(data[:4], "little")
    if not 1 <= k <= 28:
        raise SrsFormatError(f"SRS header claims logrows {k}; expected 1..28")
    expected = 4 + 2 * (1 << k) * _G1 + 2 * _G2
    if len(data) != expected:
        raise SrsFormatError(
            f"SRS file of logrows {k} must be {expected} bytes, got {len(data)} (truncated?)"
        )
    return k


def srs_logrows(data: bytes) -> int:
    """The logrows the file was made for, after checking that its size matches."""
    return _logrows(data)


def verifier_slice(srs: bytes) -> bytes:
    """The k=1 prefix a verifier needs: two monomial points, two Lagrange points, both G2 points."""
    k = _logrows(srs)
    n = 1 << k
    monomial = srs[4 : 4 + 2 * _G1]
    lagrange_start = 4 + n * _G1
    lagrange = srs[lagrange_start : lagrange_start + 2 * _G1]
    g2_part = srs[4 + 2 * n * _G1 :]
    return SLICE_LOGROWS.to_bytes(4, "little") + monomial + lagrange + g2_part


def verifier_slice_of_file(path: Path) -> bytes:
    return verifier_slice(path.read_bytes())


def srs_identity(slice_bytes: bytes) -> str:
    """Hex SHA-256 of a verifier slice; only well-formed k=1 slices are accepted."""
    if _logrows(slice_bytes) != SLICE_LOGROWS:
        raise SrsFormatError("an SRS identity is taken over a k=1 verifier slice")
    return sha256_hex(slice_bytes)


def file_sha256(path: Path) -> str:
    """Streamed SHA-256 of a whole SRS file, for pinning ceremony downloads."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
