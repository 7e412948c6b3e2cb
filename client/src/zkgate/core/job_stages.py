"""The stages a job reports while it runs: named here, in the kernel, because a prover writes
them, the gateway serves them and the client shows them, and all three must spell them alike.

A registration with tuning `none` runs calibrating, compiling, measuring_fidelity, keying,
test_proof and storing; a tuned one keys and test-proves its candidates inside tuning, so it
reports tuning, measuring_fidelity and storing. Either ends with batch_circuit when a batch
circuit was asked for. A proof runs witness, proving and storing. A queued job has
no stage (its state says it waits), nor has a running one before its first report.
"""

from __future__ import annotations

from enum import StrEnum


class JobStage(StrEnum):
    """Declared in the order a registration passes them (a proof: witness, proving, then
    storing), so that sorting by declaration gives the order they ran in."""

    CALIBRATING = "calibrating"
    TUNING = "tuning"
    COMPILING = "compiling"
    MEASURING_FIDELITY = "measuring_fidelity"
    KEYING = "keying"
    TEST_PROOF = "test_proof"
    WITNESS = "witness"
    PROVING = "proving"
    STORING = "storing"
    BATCH_CIRCUIT = "batch_circuit"

    @property
    def label(self) -> str:
        """How a person reads it: "measuring fidelity"."""
        return self.value.replace("_", " ")
