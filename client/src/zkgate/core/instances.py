"""Reading a proof's public instances back into numbers, using only the committed settings.

A verified proof says "the circuit maps these instance values to those"; what the values mean
(which are inputs, which outputs, at what fixed-point scale) is decided by settings.json, which
the client trusts only because the model commitment covers it. The proof's `pretty_public_inputs`
are the prover's own rendering and are never read: nothing checks them.

Layout of the single instance vector (ezkl 23): [param hash if params are hashed, then each input
(its values if public, one Poseidon hash if hashed, nothing if private), then each output, alike].
`model_instance_shapes` in the settings lists the shapes of the public, unhashed tensors only.

ezkl is imported where a felt is converted, not at load: reading a layout from settings needs
only its input-type names, and a gateway reads results without loading the prover's library.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from zkgate.core.documents import parse_json

if TYPE_CHECKING:
    import ezkl

# Order of BN254's scalar field: felts at or above it are not field elements, and ezkl's felt
# helpers abort the process (a Rust panic) instead of raising on them.
BN254_SCALAR_MODULUS = 0x30644E72E131A029B85045B68181585D2833E84879B9709143E1F593F0000001
_FELT_HEX = re.compile(r"[0-9a-f]{64}")

PUBLIC = "public"
HASHED = "hashed"


class InstanceLayoutError(ValueError):
    """Settings or instances that do not have the shape the circuit needs."""


class QuantizationError(ValueError):
    """Values the circuit cannot take as inputs: NaN or infinite (ezkl would quantize NaN to 0
    and prove a run on another input), or too large for its fixed-point grid."""


def _visibility(raw: Any) -> str:
    """Lower-cased ezkl visibility; a hash kept private publishes nothing, like `private`."""
    if isinstance(raw, str):
        return raw.lower()
    if isinstance(raw, dict) and len(raw) == 1:
        ((kind, options),) = raw.items()
        if kind == "Hashed":
            return (
                HASHED if isinstance(options, dict) and options.get("hash_is_public") else "private"
            )
        return str(kind).lower()
    raise InstanceLayoutError(f"unrecognised visibility in settings: {raw!r}")


def _input_type(name: Any) -> ezkl.PyInputType:
    import ezkl

    # PyInputType is a pyo3 class, not a Python Enum: members are attributes, not items.
    member = getattr(ezkl.PyInputType, str(name), None)
    if not isinstance(member, ezkl.PyInputType):
        raise InstanceLayoutError(f"unknown ezkl input type in settings: {name!r}")
    return member


def _tensor_width(visibility: str, shape: Sequence[int] | None) -> int:
    if visibility == HASHED:
        return 1
    if visibility == PUBLIC and shape is not None:
        return math.prod(shape)
    return 0


@dataclass(frozen=True)
class CircuitLayout:
    input_visibility: str
    output_visibility: str
    param_visibility: str
    input_scales: tuple[int, ...]
    output_scales: tuple[int, ...]
    input_types: tuple[ezkl.PyInputType, ...]
    input_shapes: tuple[tuple[int, ...] | None, ...]
    output_shapes: tuple[tuple[int, ...] | None, ...]
    # ezkl's `ignore_range_check_inputs_outputs` turned off: the circuit constrains its inputs
    # and outputs to the range its lookups cover.
    range_checks_io: bool

    @classmethod
    def from_settings(cls, settings: bytes) -> CircuitLayout:
        try:
            raw = parse_json(settings, what="settings.json")
            run_args = raw["run_args"]
            visibilities = (
                _visibility(run_args["input_visibility"]),
                _visibility(run_args["output_visibility"]),
                _visibility(run_args["param_visibility"]),
            )
            input_scales = tuple(int(s) for s in raw["model_input_scales"])
            output_scales = tuple(int(s) for s in raw["model_output_scales"])
            public_shapes = [tuple(int(d) for d in s) for s in raw["model_instance_shapes"]]
            # Assume F32 where settings do not say: it is what exported float models declare.
            declared_types = raw.get("input_types") or ["F32"] * len(input_scales)
            input_types = tuple(_input_type(t) for t in declared_types)
            range_checks_io = run_args.get("ignore_range_check_inputs_outputs", False) is False
        except (ValueError, TypeError, KeyError) as exc:
            raise InstanceLayoutError(f"settings lack the instance layout: {exc!r}") from exc
        if len(input_types) != len(input_scales):
            raise InstanceLayoutError(
                f"settings give {len(input_types)} input types for {len(input_scales)} inputs"
            )
        input_vis, output_vis, _ = visibilities
        n_in = len(input_scales) if input_vis == PUBLIC else 0
        n_out = len(output_scales) if output_vis == PUBLIC else 0
        if len(public_shapes) != n_in + n_out:
            raise InstanceLayoutError(
                f"settings list {len(public_shapes)} public tensor shapes, but visibilities "
                f"{input_vis}/{output_vis} with {len(input_scales)} inputs and "
                f"{len(output_scales)} outputs need {n_in + n_out}"
            )
        return cls(
            *visibilities,
            input_scales=input_scales,
            output_scales=output_scales,
            input_types=input_types,
            input_shapes=tuple(public_shapes[:n_in]) if n_in else (None,) * len(input_scales),
            output_shapes=tuple(public_shapes[n_in:]) if n_out else (None,) * len(output_scales),
            range_checks_io=range_checks_io,
        )

    def input_widths(self) -> list[int]:
        return [_tensor_width(self.input_visibility, s) for s in self.input_shapes]

    def output_widths(self) -> list[int]:
        return [_tensor_width(self.output_visibility, s) for s in self.output_shapes]

    def instance_count(self) -> int:
        param = 1 if self.param_visibility == HASHED else 0
        return param + sum(self.input_widths()) + sum(self.output_widths())


@dataclass(frozen=True)
class PublicInstances:
    """Felts (little-endian hex, as ezkl writes them) split per tensor."""

    param_hash: str | None
    inputs: list[list[str]]
    outputs: list[list[str]]


def check_felt(felt: Any, position: int) -> str:
    """felt itself, if it is a field element as ezkl writes them; checked before any ezkl call
    sees it, since ezkl aborts the process on malformed felts."""
    if not isinstance(felt, str) or not _FELT_HEX.fullmatch(felt):
        raise InstanceLayoutError(
            f"instance {position} is not a 64-digit lowercase hex field element: {felt!r:.80}"
        )
    if int.from_bytes(bytes.fromhex(felt), "little") >= BN254_SCALAR_MODULUS:
        raise InstanceLayoutError(f"instance {position} is not below the BN254 field order")
    return felt


def _cut_by_widths(felts: list[str], start: int, widths: list[int]) -> tuple[list[list[str]], int]:
    groups = []
    for width in widths:
        groups.append(felts[start : start + width])
        start += width
    return groups, start


def split_instances(layout: CircuitLayout, instances: Any) -> PublicInstances:
    """Check the proof's `instances` against the layout and cut it into per-tensor felts."""
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], list):
        raise InstanceLayoutError(
            "the proof must carry exactly one instance vector (a list holding one list of felts)"
        )
    felts = [check_felt(f, i) for i, f in enumerate(instances[0])]
    expected = layout.instance_count()
    if len(felts) != expected:
        raise InstanceLayoutError(
            f"the proof has {len(felts)} public instances; the settings need {expected} "
            f"(params {layout.param_visibility}, inputs {layout.input_widths()}, "
            f"outputs {layout.output_widths()})"
        )
    param_hash = felts[0] if layout.param_visibility == HASHED else None
    inputs, start = _cut_by_widths(felts, 0 if param_hash is None else 1, layout.input_widths())
    outputs, _ = _cut_by_widths(felts, start, layout.output_widths())
    return PublicInstances(param_hash=param_hash, inputs=inputs, outputs=outputs)


def dequantize(felts: Sequence[str], scale: int) -> npt.NDArray[np.float64]:
    import ezkl

    return np.array([ezkl.felt_to_float(f, scale) for f in felts], dtype=np.float64)


def quantize(values: npt.NDArray[Any], scale: int, input_type: ezkl.PyInputType) -> list[str]:
    """Row-major fixed-point felts, rounded the way ezkl's witness generation rounds inputs."""
    import ezkl

    flat = np.asarray(values).ravel()
    if flat.dtype.kind == "f" and not np.all(np.isfinite(flat)):
        raise QuantizationError("it holds NaN or infinite values, which no circuit input can be")
    try:
        return [ezkl.float_to_felt(float(v), scale, input_type) for v in flat]
    except OSError as exc:  # ezkl's "Failed to quantize input": |v| * 2^scale overflows i128
        raise QuantizationError(
            f"it holds values too large for the circuit's fixed-point grid at scale 2^{scale} "
            f"(largest magnitude {float(np.max(np.abs(flat))):.6g})"
        ) from exc


def expected_input_felts(layout: CircuitLayout, index: int, values: npt.NDArray[Any]) -> list[str]:
    """What the instances must hold for input `index`: its felts, or their Poseidon hash."""
    import ezkl

    felts = quantize(values, layout.input_scales[index], layout.input_types[index])
    if layout.input_visibility == HASHED:
        return ezkl.poseidon_hash(felts)
    return felts
