"""Checkpoints read on demand, each re-checked on every read.

The verifier reads a checkpoint once in the structural pass and again when it replays a segment
from it; checking hash and tensors on each read means a file swapped between the two is still
caught, and no checkpoint has to be held in memory for the replay.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from zkgate.core.canonical import sha256_hex
from zkgate.core.documents import quote
from zkgate.core.learning.manifest import Manifest
from zkgate.pol import proof_files
from zkgate.pol.checkpoints import (
    CheckpointError,
    StateLayout,
    TrainingState,
    check_layout,
    decode,
    state_layout,
)


class CheckpointReader:
    """Reads checkpoint i on demand and re-checks its hash and tensors on every read, so a file
    swapped between the structural pass and the replay is still caught."""

    def __init__(
        self, proof_dir: Path, manifest: Manifest, layout: StateLayout | None = None
    ) -> None:
        """`layout`: the tensors each checkpoint must hold (default: what the manifest's own
        policy implies)."""
        self._dir = proof_dir
        self._entries = manifest.checkpoints
        policy = manifest.policy
        self._layout = layout or state_layout(policy.architecture, policy.optimizer)

    def __len__(self) -> int:
        return len(self._entries)

    def load(self, index: int) -> TrainingState:
        entry = self._entries[index]
        what = f"checkpoint {index} (step {entry.step})"
        if entry.file != proof_files.checkpoint_file(index):
            raise CheckpointError(f"{what} is named {quote(entry.file)}, not the standard name")
        try:
            data = (self._dir / entry.file).read_bytes()
        except OSError as exc:
            raise CheckpointError(f"{what} cannot be read: {exc.strerror or exc}") from exc
        if sha256_hex(data) != entry.sha256:
            raise CheckpointError(f"{what} does not hash to the manifest's digest")
        state = decode(data, expected_step=entry.step, what=what)
        check_layout(state, self._layout, what)
        return state

    def states(self) -> Iterator[TrainingState]:
        for index in range(len(self)):
            yield self.load(index)
