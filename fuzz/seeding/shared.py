"""The fixed clock, nonce and paths every seed document is built with, so that seeds are the
same from run to run."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "examples" / "digits"
NOW_MS = 1_700_000_000_000
CLIENT_NONCE = bytes(range(32))


def raw_key(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
