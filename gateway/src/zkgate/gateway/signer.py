"""The gateway's receipt-signing key.

Created on first start and persisted (mode 0600) under the data directory, so receipts issued
before a restart still verify under the key clients pinned.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from zkgate.client.receipts import Receipt, ReceiptBody


class ReceiptSigner:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key: bytes = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @classmethod
    def load_or_create(cls, path: Path) -> ReceiptSigner:
        if path.exists():
            key = load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} does not hold an Ed25519 private key")
            return cls(key)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        # Two gateways starting at once on one data directory must end with the same key.
        try:
            os.link(tmp, path)
        except FileExistsError:
            tmp.unlink()
            return cls.load_or_create(path)
        tmp.unlink()
        return cls(key)

    def sign(self, body: ReceiptBody) -> Receipt:
        return Receipt(body=body, signature=self._key.sign(body.signing_bytes()))
