"""The recorder: runs a training policy and writes its proof-of-learning.

The training loop is the policy's (optimizer, schedule, batch size, epochs, loss), driven by the
seed from a signed intent, so a verifier can replay any segment of it. Every k steps the full
state goes to a checkpoint and into the hash chain; a timestamper, when given, gets chain heads
as they are made, so the gateway's timestamps show how far training had got, and when.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from torch import nn

from zkgate.core.attestations import CommitmentTimestamp, TrainingIntent
from zkgate.core.canonical import sha256_hex
from zkgate.core.learning.manifest import CheckpointEntry, Manifest
from zkgate.core.learning.policy import TrainingPolicy
from zkgate.core.signing import raw_public_key
from zkgate.pol import proof_files
from zkgate.pol.checkpoints import TrainingState, chain_link, encode
from zkgate.pol.dataset import Dataset
from zkgate.pol.onnx_binding import export_onnx
from zkgate.pol.training import TrainingRun, deterministic

# Called with a commitment (hex SHA-256); returns the gateway's timestamp, or None to skip one.
Timestamper = Callable[[str], CommitmentTimestamp | None]


class RecordingError(ValueError):
    """The intent, policy, owner key and dataset do not belong together."""


class ProofWriter:
    """Writes checkpoints, links the chain, and signs the manifest at the end."""

    def __init__(
        self, out_dir: Path, intent: TrainingIntent, policy: TrainingPolicy, dataset: Dataset
    ) -> None:
        self.out_dir = out_dir
        self.intent = intent
        self.policy = policy
        self.timestamps: list[CommitmentTimestamp] = []
        self._entries: list[CheckpointEntry] = []
        self._chain = intent.digest()
        (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        dataset.save(out_dir / proof_files.DATASET)
        self._dataset_root = dataset.root()
        self._dataset_size = len(dataset)

    @property
    def entries(self) -> tuple[CheckpointEntry, ...]:
        return tuple(self._entries)

    def add(self, state: TrainingState) -> str:
        """Writes one checkpoint and returns the new chain head."""
        name = proof_files.checkpoint_file(len(self._entries))
        data = encode(state)
        (self.out_dir / name).write_bytes(data)
        digest = sha256_hex(data)
        self._chain = chain_link(self._chain, state.step, digest)
        self._entries.append(
            CheckpointEntry(step=state.step, file=name, sha256=digest, chain=self._chain)
        )
        return self._chain

    def finish(self, model: nn.Module, owner: Ed25519PrivateKey) -> Manifest:
        """Exports `model` (holding the last checkpoint's weights) and signs the manifest."""
        model_path = self.out_dir / proof_files.MODEL
        export_onnx(model, self.policy.architecture.sizes[0], model_path)
        manifest = Manifest(
            intent=self.intent,
            policy=self.policy,
            dataset_root=self._dataset_root,
            dataset_size=self._dataset_size,
            checkpoints=tuple(self._entries),
            onnx_sha256=sha256_hex(model_path.read_bytes()),
        ).signed_by(owner)
        (self.out_dir / proof_files.MANIFEST).write_text(manifest.to_json())
        return manifest

    def save_timestamps(self) -> None:
        statements = [json.loads(t.to_json()) for t in self.timestamps]
        (self.out_dir / proof_files.TIMESTAMPS).write_text(json.dumps(statements, indent=1))


def check_ingredients(
    policy: TrainingPolicy, dataset: Dataset, intent: TrainingIntent, owner: Ed25519PrivateKey
) -> None:
    if policy.calibration is None:
        raise RecordingError(
            "the policy has no calibrated thresholds: run `zkgate pol calibrate` on it first"
        )
    if intent.owner_public_key != raw_public_key(owner).hex():
        raise RecordingError("the training intent was issued to another owner key")
    if intent.policy_digest != policy.digest():
        raise RecordingError("the training intent registers another policy (digest differs)")
    if len(dataset) != policy.dataset_size or dataset.root() != policy.dataset_root:
        raise RecordingError("the dataset is not the one the policy commits to (root differs)")


def record_training(
    *,
    policy: TrainingPolicy,
    dataset: Dataset,
    intent: TrainingIntent,
    owner: Ed25519PrivateKey,
    out_dir: Path,
    timestamper: Timestamper | None = None,
    timestamp_every: int = 1,
) -> Manifest:
    """Trains under `policy` from the intent's seed and writes the proof into `out_dir`."""
    check_ingredients(policy, dataset, intent, owner)
    writer = ProofWriter(out_dir, intent, policy, dataset)
    run = TrainingRun(policy, dataset, intent.seed())
    steps = policy.checkpoint_steps()
    with deterministic(policy.threads):
        run.start()
        for index, step in enumerate(steps):
            run.advance(step)
            head = writer.add(run.state())
            due = index % timestamp_every == 0 or index == len(steps) - 1
            if timestamper is not None and due:
                _collect(writer, timestamper(head))
        manifest = writer.finish(run.model, owner)
    if timestamper is not None:
        _collect(writer, timestamper(manifest.digest()))
    writer.save_timestamps()
    return manifest


def _collect(writer: ProofWriter, timestamp: CommitmentTimestamp | None) -> None:
    if timestamp is not None:
        writer.timestamps.append(timestamp)
