"""Ed25519 signatures over canonical JSON, shared by every statement zkgate signs.

Receipts, training intents, timestamps, proof-of-learning manifests and dispute verdicts are all
a JSON body plus a signature. The signed bytes are the body's format tag, a NUL, then the body's
canonical JSON: the tag keeps a signature over one kind of statement from ever being replayed as
another kind, and canonical JSON makes the bytes independent of key order and whitespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from zkgate.core.canonical import canonical_json


class SignatureError(ValueError):
    """A signature that does not verify, or a public key that cannot be one."""


def signing_bytes(body: Mapping[str, Any]) -> bytes:
    return str(body["format"]).encode("utf-8") + b"\x00" + canonical_json(dict(body))


def sign_body(key: Ed25519PrivateKey, body: Mapping[str, Any]) -> bytes:
    return key.sign(signing_bytes(body))


def verify_body(public_key: bytes, body: Mapping[str, Any], signature: bytes, what: str) -> None:
    """Raises SignatureError naming `what` unless `public_key` (raw 32 bytes) signed `body`."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, signing_bytes(body))
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError(f"{what}: signature does not verify") from exc


def raw_public_key(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def parse_public_key_hex(text: str, what: str) -> bytes:
    """Checks that `text` is 32 bytes of hex, the only public key form zkgate exchanges."""
    try:
        raw = bytes.fromhex(text)
    except ValueError as exc:
        raise SignatureError(f"{what} is not hex: {text[:80]!r}") from exc
    if len(raw) != 32:
        raise SignatureError(f"{what} has {len(raw)} bytes; an Ed25519 public key has 32")
    return raw
