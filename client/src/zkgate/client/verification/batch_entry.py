"""What a batched proof says about one request: that its entry hashes these inputs and the
outputs the prove job reported for it, which are then the outputs proven for this request.

A batch circuit hashes every input and output, so the outputs come from the job's report, and
each is believed only once its Poseidon hash is the one the proof carries at that entry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import ezkl

from zkgate.client.verification.proven_values import OutputSlot, input_felts, slot_values
from zkgate.client.verification.reasons import Reason, VerificationError
from zkgate.core.batch_entry import BatchEntry
from zkgate.core.instances import CircuitLayout, InstanceLayoutError, PublicInstances, check_felt
from zkgate.core.tensors import NamedTensor


def check_entry(
    inputs: Sequence[NamedTensor],
    slots: Sequence[OutputSlot],
    entry: BatchEntry,
    instances: PublicInstances,
    layout: CircuitLayout,
    batch_size: int,
) -> tuple[str, list[NamedTensor]]:
    """That the proof's entry at entry.index hashes these inputs and the outputs the job
    reported for it; returns the check and those outputs, dequantized."""
    per_input, per_output = len(inputs), len(slots)
    _check_entry_fits(entry, layout, batch_size, per_input, per_output)
    first_input, first_output = entry.index * per_input, entry.index * per_output
    for offset, tensor in enumerate(inputs):
        position = first_input + offset
        if input_felts(layout, position, tensor) != instances.inputs[position]:
            raise VerificationError(
                Reason.INPUT_MISMATCH,
                f"the proof's entry {entry.index} does not hash your input {tensor.name!r}: "
                "the index is wrong, or the entry (and the proof) belongs to another request",
            )
    if len(entry.outputs) != per_output:
        raise _mismatch(f"the job reports {len(entry.outputs)} outputs, the model has {per_output}")
    proven = [
        _reported_output(
            entry.index,
            slot,
            felts,
            instances.outputs[first_output + offset],
            layout.output_scales[first_output + offset],
        )
        for offset, (slot, felts) in enumerate(zip(slots, entry.outputs, strict=True))
    ]
    return (
        f"entry {entry.index} of the batch of {batch_size} hashes your inputs and the outputs "
        "proven for you (Poseidon)",
        proven,
    )


def _mismatch(detail: str) -> VerificationError:
    return VerificationError(Reason.ENTRY_MISMATCH, detail)


def _check_entry_fits(
    entry: BatchEntry, layout: CircuitLayout, batch_size: int, per_input: int, per_output: int
) -> None:
    """The entry lies inside the committed batch, whose circuit has one set of tensors per
    entry."""
    if entry.size != batch_size or not 0 <= entry.index < batch_size:
        raise _mismatch(
            f"entry {entry.index} of a batch of {entry.size} does not fit the committed batch "
            f"circuit of {batch_size}"
        )
    if (len(layout.input_scales), len(layout.output_scales)) != (
        batch_size * per_input,
        batch_size * per_output,
    ):
        raise _mismatch(
            f"the batch circuit has {len(layout.input_scales)} inputs and "
            f"{len(layout.output_scales)} outputs, not {batch_size} entries of "
            f"{per_input} and {per_output}"
        )


def _reported_output(
    entry_index: int, slot: OutputSlot, felts: Sequence[str], proven_hash: list[str], scale: int
) -> NamedTensor:
    """One output as the job reports it, once the proof's hash at its place shows it proven."""
    try:
        checked = [check_felt(felt, i) for i, felt in enumerate(felts)]
    except InstanceLayoutError as exc:
        raise _mismatch(f"output {slot[0]!r} as the job reports it: {exc}") from exc
    if len(checked) != math.prod(slot[1]):
        raise _mismatch(
            f"the job reports {len(checked)} values for output {slot[0]!r} of shape {list(slot[1])}"
        )
    if [ezkl.poseidon_hash(checked)[0]] != proven_hash:
        raise _mismatch(
            f"the proof's entry {entry_index} does not hash the outputs reported for "
            f"{slot[0]!r}: they are not what was proven for this entry"
        )
    return slot_values(slot, checked, scale, _mismatch)
