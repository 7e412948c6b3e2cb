"""A proof authenticated against the pinned commitment, and what it shows about given inputs.

`authenticate_proof` runs the checks that do not depend on the inputs (bundle, SRS, layout,
SNARK) once; `AuthenticatedProof.outputs_for` reads the outputs for particular inputs, once per
entry of a batched proof. `check_proof` is both in one call, for a proof of a single run.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from zkgate.client.verification.batch_entry import check_entry
from zkgate.client.verification.circuit_layout import committed_layout
from zkgate.client.verification.commitment import check_commitment, check_srs
from zkgate.client.verification.proven_values import (
    OutputSlot,
    card_output_slots,
    check_inputs,
    proven_outputs,
)
from zkgate.client.verification.reasons import Reason, VerificationError
from zkgate.client.verification.snark import check_snark, parse_proof
from zkgate.core.batch_entry import BatchEntry
from zkgate.core.bundle import VerifierBundle
from zkgate.core.instances import CircuitLayout, PublicInstances
from zkgate.core.tensors import NamedTensor


@dataclass(frozen=True)
class ProvenRun:
    """The outputs a proof shows the committed model computed, dequantized, and the checks
    that established it."""

    outputs: list[NamedTensor]
    checks: list[str]


@dataclass(frozen=True)
class AuthenticatedProof:
    """A proof whose SNARK verified under a bundle that hashes to the pinned commitment. What
    it says about particular inputs is read with `outputs_for`; a batched proof is read once per
    entry, and its SNARK is checked only once."""

    bundle: VerifierBundle
    layout: CircuitLayout
    instances: PublicInstances
    batched: bool
    checks: list[str]

    def outputs_for(
        self,
        inputs: Sequence[NamedTensor],
        *,
        batch_entry: BatchEntry | None = None,
        output_slots: Sequence[OutputSlot] | None = None,
    ) -> ProvenRun:
        """The outputs the committed model computed from `inputs`, or VerificationError if the
        proof is not of them. output_slots name and shape the outputs; the card's by default."""
        slots = card_output_slots(self.bundle) if output_slots is None else list(output_slots)
        if (batch_entry is not None) != self.batched:
            raise VerificationError(
                Reason.ENTRY_MISMATCH,
                "a batched proof is read at a batch entry, and a single proof without one",
            )
        if batch_entry is None:
            input_check = check_inputs(inputs, self.instances, self.layout)
            return ProvenRun(
                outputs=proven_outputs(slots, self.instances, self.layout),
                checks=[*self.checks, input_check],
            )
        assert self.bundle.card.batch is not None  # check_commitment saw to it
        entry_check, proven = check_entry(
            inputs, slots, batch_entry, self.instances, self.layout, self.bundle.card.batch.size
        )
        return ProvenRun(outputs=proven, checks=[*self.checks, entry_check])


def authenticate_proof(
    proof: bytes,
    bundle: VerifierBundle,
    *,
    pinned_commitment: str,
    allow_insecure_srs: bool = False,
    trusted_srs_identities: Collection[str] = (),
    pinned_batch_commitment: str | None = None,
) -> AuthenticatedProof:
    """Checks the bundle against the pinned commitment, the SRS, and the SNARK.

    With pinned_batch_commitment the proof is a batched one, checked under the bundle of the
    model's batch circuit, which must hash to it; the card must still name pinned_commitment,
    the model's own.
    """
    batched = pinned_batch_commitment is not None
    if not batched:
        checks = [check_commitment(bundle, pinned_commitment)]
    else:
        if bundle.card.commitment != pinned_commitment.lower():
            raise VerificationError(
                Reason.COMMITMENT_MISMATCH,
                f"the batch bundle's card is of commitment {bundle.card.commitment}, not the "
                f"pinned {pinned_commitment}",
            )
        checks = [check_commitment(bundle, str(pinned_batch_commitment), batch=True)]
    checks.append(check_srs(bundle, trusted_srs_identities, allow_insecure_srs))
    layout = committed_layout(bundle, batch=batched)
    stripped_proof, instances = parse_proof(proof, layout)
    checks.append(check_snark(stripped_proof, bundle))
    return AuthenticatedProof(
        bundle=bundle, layout=layout, instances=instances, batched=batched, checks=checks
    )


def check_proof(
    inputs: Sequence[NamedTensor],
    proof: bytes,
    bundle: VerifierBundle,
    *,
    pinned_commitment: str,
    allow_insecure_srs: bool = False,
    trusted_srs_identities: Collection[str] = (),
    batch_entry: BatchEntry | None = None,
    pinned_batch_commitment: str | None = None,
    output_slots: Sequence[OutputSlot] | None = None,
) -> ProvenRun:
    """What a proof shows about these inputs, with no receipt involved: the outputs the committed
    model computes from them. Protocols that prove runs nobody was served (a retrieval predicate,
    say) read the outputs from here; `verify` compares them with what was served. A batched
    proof (batch_entry given, from the prove job) needs pinned_batch_commitment too."""
    if batch_entry is not None and not pinned_batch_commitment:
        raise VerificationError(
            Reason.COMMITMENT_MISMATCH,
            "the proof is batched: pin the model's batch commitment too (the card's "
            "batch.commitment; CLI: --batch-commitment)",
        )
    authenticated = authenticate_proof(
        proof,
        bundle,
        pinned_commitment=pinned_commitment,
        allow_insecure_srs=allow_insecure_srs,
        trusted_srs_identities=trusted_srs_identities,
        pinned_batch_commitment=pinned_batch_commitment if batch_entry is not None else None,
    )
    return authenticated.outputs_for(inputs, batch_entry=batch_entry, output_slots=output_slots)
