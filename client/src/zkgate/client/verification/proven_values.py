"""What a proof's public instances say about a single run: that its inputs are the sent ones,
and which outputs the committed model computed from them, read at the committed scales."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from zkgate.client.verification.reasons import FailureFactory, Reason, VerificationError
from zkgate.core.bundle import VerifierBundle
from zkgate.core.instances import (
    HASHED,
    CircuitLayout,
    PublicInstances,
    QuantizationError,
    dequantize,
    expected_input_felts,
)
from zkgate.core.tensors import NamedTensor

# Where proven output values are read into: a name and a shape per output tensor.
OutputSlot = tuple[str, tuple[int, ...]]


def input_felts(layout: CircuitLayout, position: int, tensor: NamedTensor) -> list[str]:
    """What the proof must hold for this input at this position, or the reason no proof can."""
    try:
        return expected_input_felts(layout, position, tensor.array)
    except QuantizationError as exc:
        finite = not (tensor.array.dtype.kind == "f" and not np.all(np.isfinite(tensor.array)))
        raise VerificationError(
            Reason.INPUT_OUT_OF_RANGE if finite else Reason.NON_FINITE,
            f"input {tensor.name!r} cannot be a circuit input: {exc}",
        ) from exc


def check_inputs(
    inputs: Sequence[NamedTensor], instances: PublicInstances, layout: CircuitLayout
) -> str:
    if len(inputs) != len(layout.input_scales):
        raise VerificationError(
            Reason.INPUT_MISMATCH,
            f"the prediction has {len(inputs)} inputs, the circuit {len(layout.input_scales)}",
        )
    for index, (tensor, proven) in enumerate(zip(inputs, instances.inputs, strict=True)):
        if input_felts(layout, index, tensor) != proven:
            raise VerificationError(
                Reason.INPUT_MISMATCH,
                f"input {tensor.name!r} quantized at scale 2^{layout.input_scales[index]} does "
                "not equal the input the proof was made for",
            )
    form = "Poseidon hash" if layout.input_visibility == HASHED else "fixed-point values"
    return f"the proof's public inputs equal the sent inputs ({form})"


def card_output_slots(bundle: VerifierBundle) -> list[OutputSlot]:
    return [(spec.name, tuple(spec.shape)) for spec in bundle.card.outputs]


def slot_values(
    slot: OutputSlot, felts: Sequence[str], scale: int, fail: FailureFactory
) -> NamedTensor:
    name, shape = slot
    size = math.prod(shape)
    if size != len(felts):
        raise fail(f"output {name!r} has {size} values, the proof {len(felts)}")
    values = dequantize(list(felts), scale).reshape(shape)
    return NamedTensor(name=name, datatype="FP64", array=values)


def proven_outputs(
    slots: Sequence[OutputSlot], instances: PublicInstances, layout: CircuitLayout
) -> list[NamedTensor]:
    def fail(detail: str) -> VerificationError:
        return VerificationError(Reason.OUTPUT_OUT_OF_TOLERANCE, detail)

    if len(slots) != len(layout.output_scales):
        raise fail(f"there are {len(slots)} outputs, the circuit has {len(layout.output_scales)}")
    return [
        slot_values(slot, felts, scale, fail)
        for slot, felts, scale in zip(slots, instances.outputs, layout.output_scales, strict=True)
    ]
