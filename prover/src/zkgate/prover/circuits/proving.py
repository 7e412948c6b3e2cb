"""Making a proof for one request (or a batch) with a registered model's artifacts, given as
local files: the worker fetches them from the store (ArtifactStore.local_files) and stores the
proof, so proving itself touches no store.

The gateway stores a prove job's input as witness_input_json bytes and the prover feeds those
same bytes to ezkl, so what is proven is exactly what was enqueued. Every proof is verified
against the model's k=1 verifier slice before it is handed out: that is the check a client
makes, and a proof that fails it points at damaged keys, not at the request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import prod
from pathlib import Path

from zkgate.core.card import ModelCard
from zkgate.core.job_stages import JobStage
from zkgate.prover.circuits.batching import (
    BatchError,
    batch_witness_input,
    entry_outputs,
    read_witness,
)
from zkgate.prover.circuits.ezkl_calls import (
    EZKL_VERSION,
    ProvingError,
    compute_witness,
    make_proof,
    verify_proof,
)
from zkgate.prover.circuits.stage_timing import stage

# The artifacts a proof needs, by their names in card.artifacts (and card.batch.artifacts); srs
# is the file the proving key was made with.
PROVING_ARTIFACTS = ("compiled", "pk", "settings", "vk", "srs_slice", "srs")


class ArtifactVersionMismatch(ProvingError):
    """Keys and circuits are only valid for the ezkl version that made them."""


def check_ezkl_version(card: ModelCard) -> None:
    if card.ezkl_version != EZKL_VERSION:
        raise ArtifactVersionMismatch(
            f"model {card.name!r} was built with ezkl {card.ezkl_version}, this prover runs "
            f"ezkl {EZKL_VERSION}: its keys cannot be used; run the prover with "
            f"ezkl=={card.ezkl_version} or register the model again"
        )


def prove(
    card: ModelCard, local: Mapping[str, Path], *, witness_input: bytes, scratch: Path
) -> bytes:
    """The proof JSON for witness_input (witness_input_json bytes) under card's model; local
    holds card.artifacts' PROVING_ARTIFACTS as local files."""
    check_ezkl_version(card)
    _check_witness_input(card, witness_input)
    return _prove(card.name, local, witness_input=witness_input, scratch=scratch)


@dataclass(frozen=True)
class BatchProof:
    """One proof over a batch, and each request's proven outputs (felts per output tensor), in
    the order the requests were given; padding entries are left out."""

    proof: bytes
    entry_outputs: list[list[list[str]]]


def prove_batch(
    card: ModelCard, local: Mapping[str, Path], *, witness_inputs: Sequence[bytes], scratch: Path
) -> BatchProof:
    """One proof of card's batch circuit over the requests' witness inputs (at most the batch
    size); local holds card.batch.artifacts' PROVING_ARTIFACTS as local files."""
    check_ezkl_version(card)
    if card.batch is None:
        raise ProvingError(f"model {card.name!r} has no batch circuit")
    for witness_input in witness_inputs:
        _check_witness_input(card, witness_input)
    try:
        batch_input = batch_witness_input(witness_inputs, card.batch.size)
    except BatchError as exc:
        raise ProvingError(str(exc)) from exc
    proof = _prove(card.name, local, witness_input=batch_input, scratch=scratch)
    witness = read_witness(scratch / "witness.json")
    return BatchProof(
        proof=proof,
        entry_outputs=[
            entry_outputs(witness, index, len(card.outputs)) for index in range(len(witness_inputs))
        ],
    )


def _prove(label: str, local: Mapping[str, Path], *, witness_input: bytes, scratch: Path) -> bytes:
    """A proof with a circuit's artifacts as local files; the witness stays in scratch as
    witness.json. Its stages (witness, proving) are reported (stage_timing.py)."""
    compiled = local["compiled"]
    data = scratch / "input.json"
    witness = scratch / "witness.json"
    proof = scratch / "proof.json"
    data.write_bytes(witness_input)
    with stage(label, JobStage.WITNESS):
        compute_witness("computing the witness", data=data, compiled=compiled, witness=witness)
    with stage(label, JobStage.PROVING):
        make_proof(
            "proving",
            witness=witness,
            compiled=compiled,
            proving_key=local["pk"],
            proof=proof,
            srs=local["srs"],
        )
        verify_proof(
            proof,
            settings=local["settings"],
            verifying_key=local["vk"],
            srs_slice=local["srs_slice"],
        )
    return proof.read_bytes()


def _check_witness_input(card: ModelCard, witness_input: bytes) -> None:
    try:
        got = [len(values) for values in json.loads(witness_input)["input_data"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ProvingError(f"the stored witness input is not ezkl input data: {exc}") from exc
    expected = [prod(spec.shape) for spec in card.inputs]
    if got != expected:
        raise ProvingError(
            f"model {card.name!r} takes inputs of {expected} values, the witness input holds {got}"
        )
