"""The gateway's signing key.

Created on first start and persisted (mode 0600) under the data directory, so receipts, training
intents and timestamps issued before a restart still verify under the key clients pinned.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.keys import load_or_create_private_key
from zkgate.core.receipts import Receipt, ReceiptBody
from zkgate.core.signing import raw_public_key


class ReceiptSigner:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key
        self.public_key: bytes = raw_public_key(key)

    @classmethod
    def load_or_create(cls, path: Path) -> ReceiptSigner:
        return cls(load_or_create_private_key(path))

    def sign(self, body: ReceiptBody) -> Receipt:
        return Receipt(body=body, signature=self.key.sign(body.signing_bytes()))
