"""Seed documents of proof-of-learning: a training intent, a commitment timestamp, a training
policy, a signed manifest and an archive holding it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fuzz.seeding.shared import DIGITS, NOW_MS, raw_key
from zkgate.core.attestations import (
    issue_commitment_timestamp,
    issue_training_intent,
    sign_timestamp_request,
)
from zkgate.core.learning.archive import build_archive


def learning_documents(key: Ed25519PrivateKey) -> dict[str, bytes]:
    owner = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    owner_hex = raw_key(owner).hex()
    intent = issue_training_intent(
        key, owner_public_key=owner_hex, policy_digest="34" * 32, now_ms=1
    )
    timestamp = issue_commitment_timestamp(
        key,
        owner_public_key=owner_hex,
        commitment="56" * 32,
        request_signature=sign_timestamp_request(owner, "56" * 32),
        now_ms=NOW_MS,
    )
    policy, manifest = _training_policy_and_manifest(key)
    return {
        "training_intent": intent.to_json().encode(),
        "commitment_timestamp": timestamp.to_json().encode(),
        "policy": policy,
        "manifest": manifest,
        "learning_archive": _learning_archive(manifest),
    }


def _training_policy_and_manifest(key: Ed25519PrivateKey) -> tuple[bytes, bytes]:
    from zkgate.core.learning.manifest import CheckpointEntry, Manifest
    from zkgate.core.learning.policy import (
        Architecture,
        OptimizerSpec,
        Schedule,
        Thresholds,
        TrainingPolicy,
    )

    policy = TrainingPolicy(
        architecture=Architecture("mlp", (64, 16, 10)),
        optimizer=OptimizerSpec("sgd", 0.1),
        schedule=Schedule(),
        batch_size=32,
        epochs=1,
        checkpoint_interval=10,
        dataset_root="ab" * 32,
        dataset_size=100,
        thresholds=Thresholds(
            l1=1.0, l2=1.0, linf=1.0, cosine=0.1, update_ratio=0.1, state_linf=1.0,
            min_update_l2=1e-6,
        ),
    )  # fmt: skip
    owner = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    intent = issue_training_intent(
        key, owner_public_key=raw_key(owner).hex(), policy_digest=policy.digest(), now_ms=NOW_MS
    )
    manifest = Manifest(
        intent=intent,
        policy=policy,
        dataset_root=policy.dataset_root,
        dataset_size=policy.dataset_size,
        checkpoints=tuple(
            CheckpointEntry(
                step=step,
                file=f"checkpoints/{i:06d}.safetensors",
                sha256="cd" * 32,
                chain="ef" * 32,
            )
            for i, step in enumerate(policy.checkpoint_steps())
        ),
        onnx_sha256="12" * 32,
        signature=b"",
    ).signed_by(owner)
    return policy.to_json().encode(), manifest.to_json().encode()


def _learning_archive(manifest: bytes) -> bytes:
    with tempfile.TemporaryDirectory(prefix="zkgate-fuzz-archive-") as tmp:
        root = Path(tmp)
        (root / "manifest.json").write_bytes(manifest)
        (root / "checkpoints").mkdir()
        for index in range(2):
            (root / "checkpoints" / f"{index:06d}.safetensors").write_bytes(bytes(64 * (index + 1)))
        (root / "dataset.safetensors").write_bytes(bytes(256))
        (root / "model.onnx").write_bytes((DIGITS / "model.onnx").read_bytes())
        (root / "timestamps.json").write_text("[]")
        return build_archive(root)
