"""The working copies ezkl reads and writes while one circuit is built, by their fixed names in
a scratch directory: every registration stage finds the previous stage's output there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CircuitFiles:
    directory: Path

    @property
    def settings(self) -> Path:
        return self.directory / "settings.json"

    @property
    def calibration(self) -> Path:
        return self.directory / "calibration.json"

    @property
    def compiled(self) -> Path:
        return self.directory / "model.compiled"

    @property
    def verifying_key(self) -> Path:
        return self.directory / "vk.key"

    @property
    def proving_key(self) -> Path:
        return self.directory / "pk.key"

    @property
    def srs_slice(self) -> Path:
        return self.directory / "srs-slice.srs"

    def sample_input(self, index: int) -> Path:
        return self.directory / f"sample-{index}.json"

    def sample_witness(self, index: int) -> Path:
        return self.directory / f"witness-{index}.json"

    @property
    def proof(self) -> Path:
        return self.directory / "proof.json"
