"""The manifest: the owner's signed index of a proof-of-learning.

It names the training intent (and so the seed and the registered policy), the dataset root, every
checkpoint's hash and chain link, and the exported ONNX. Signing it is the owner's claim "I ran
this training"; the verifier then checks that the claim holds together and replays parts of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.attestations import AttestationError, TrainingIntent
from zkgate.core.canonical import canonical_json, framed_digest
from zkgate.core.documents import DocumentError, Fields, parse_object, quote
from zkgate.core.learning.layout import MANIFEST_NAME, MAX_MANIFEST_BYTES
from zkgate.core.learning.policy import PolicyError, TrainingPolicy
from zkgate.core.signing import SignatureError, sign_body, verify_body

MANIFEST_FORMAT = "zkgate.core.learning.manifest/1"


class ManifestError(ValueError):
    """A manifest that cannot be read or whose owner signature does not verify."""


@dataclass(frozen=True)
class CheckpointEntry:
    step: int
    file: str
    sha256: str
    chain: str


@dataclass(frozen=True)
class Manifest:
    intent: TrainingIntent
    policy: TrainingPolicy
    dataset_root: str
    dataset_size: int
    checkpoints: tuple[CheckpointEntry, ...]
    onnx_sha256: str
    signature: bytes = b""

    @property
    def owner_public_key(self) -> str:
        return self.intent.owner_public_key

    @property
    def chain_head(self) -> str:
        return self.checkpoints[-1].chain

    def body(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "intent": json.loads(self.intent.to_json()),
            "policy": self.policy.to_json_obj(),
            "dataset_root": self.dataset_root,
            "dataset_size": self.dataset_size,
            "checkpoints": [vars(entry) for entry in self.checkpoints],
            "onnx_sha256": self.onnx_sha256,
        }

    def signed_by(self, owner: Ed25519PrivateKey) -> Manifest:
        return replace(self, signature=sign_body(owner, self.body()))

    def verify_signature(self) -> None:
        """The manifest must be signed by the owner the intent was issued to: a copied run
        re-signed by anyone else is not a proof of anything they did."""
        try:
            verify_body(
                bytes.fromhex(self.owner_public_key),
                self.body(),
                self.signature,
                "manifest (it must be signed by the owner the training intent names)",
            )
        except SignatureError as exc:
            raise ManifestError(str(exc)) from exc

    def digest(self) -> str:
        return framed_digest(MANIFEST_FORMAT, [canonical_json(self.body()), self.signature])

    def to_json(self) -> str:
        return canonical_json({"body": self.body(), "signature": self.signature.hex()}).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """Through the bounded document layer (size, depth, typed fields): the manifest is the
        first thing read from a proof, and nothing about it is trusted yet."""
        try:
            raw = parse_object(text, what=MANIFEST_NAME, max_bytes=MAX_MANIFEST_BYTES)
            raw.only("body", "signature")
            body = raw.object("body").only(
                "format", "intent", "policy", "dataset_root", "dataset_size", "checkpoints",
                "onnx_sha256",
            )  # fmt: skip
            if body.text("format") != MANIFEST_FORMAT:
                raise ManifestError(
                    f"not a proof-of-learning manifest: {quote(body.raw['format'])}"
                )
            return cls(
                intent=TrainingIntent.from_json(canonical_json(body.object("intent").raw)),
                policy=TrainingPolicy.from_json_obj(body.object("policy").raw),
                dataset_root=body.text("dataset_root"),
                dataset_size=body.count("dataset_size"),
                checkpoints=tuple(_entry(entry) for entry in body.objects("checkpoints")),
                onnx_sha256=body.text("onnx_sha256"),
                signature=bytes.fromhex(raw.text("signature")),
            )
        except (ManifestError, AttestationError, PolicyError):
            raise
        except DocumentError as exc:
            raise ManifestError(str(exc)) from exc
        except ValueError as exc:  # the signature is not hex
            raise ManifestError(f"malformed manifest signature: {exc}") from exc


def _entry(entry: Fields) -> CheckpointEntry:
    entry.only("step", "file", "sha256", "chain")
    return CheckpointEntry(
        step=entry.count("step"),
        file=entry.text("file"),
        sha256=entry.text("sha256"),
        chain=entry.text("chain"),
    )
