"""Canonical byte encodings that signatures and digests are computed over.

Two parties hash or sign the same logical value, so the bytes must not depend on dict order,
whitespace or float formatting; every signed or hashed structure in zkgate goes through here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8; NaN and infinities are refused since JSON has none."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def framed_digest(domain: str, parts: Iterable[bytes]) -> str:
    """SHA-256 over a domain tag and length-prefixed parts, as lowercase hex.

    Length prefixes make the encoding injective: no two part lists share bytes, so a digest
    cannot be reinterpreted by moving a boundary. The domain tag keeps digests of different
    kinds from ever colliding.
    """
    h = hashlib.sha256()
    for part in (domain.encode("utf-8"), *parts):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_count(value: object) -> bool:
    """A non-negative integer as parsed JSON gives it: not a bool (an int subclass), not a
    float, not a string of digits."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def text_by_digest(texts: dict[str, str], digest: str) -> bytes | None:
    """The UTF-8 bytes of the text filed under `digest`, only if they do hash to it: documents
    that carry their proofs keyed by SHA-256 are read through this, so a mislabelled proof is
    as good as a missing one."""
    text = texts.get(digest)
    if text is None:
        return None
    data = text.encode("utf-8")
    return data if sha256_hex(data) == digest else None
