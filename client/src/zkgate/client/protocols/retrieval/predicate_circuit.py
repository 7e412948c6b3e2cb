"""Tying a predicate's circuit, and everything its proofs are read with, to the requester.

A retrieval proof is worth something only if it is a proof of the requester's own predicate, read
the way that predicate's circuit means it. The responder compiles and keys the predicate, so the
requester redoes the parts that decide meaning:

- The settings. ezkl's key generation ignores most of settings.json: the scales that inputs are
  quantized at and outputs read at (`model_input_scales`, `model_output_scales`), the input types
  and the instance shapes could all be edited under an unchanged key, and a record quantized at
  scale 0 is a record of zeros. So the requester runs ezkl's `gen_settings` on its own ONNX, and
  the served settings must equal what that gives in every field (only the time they were written
  may differ).
- The scales. Run arguments that decide what the circuit computes (its fixed-point scales, the
  visibility of inputs, outputs and weights, range checks on inputs and outputs, the epsilon of
  divisions) are the requester's: `input_scale` and `param_scale` are the scale it asked for, the
  rest are fixed here. Only run arguments that size the circuit (rows, columns, lookup ranges,
  decomposition, the rebase multiplier) are the responder's, and the rebuilt key binds them.
- The key. ezkl's setup is deterministic: keying the requester's ONNX under the derived settings
  with an SRS file it trusts must give the served verifying key byte for byte.

This needs the full SRS file of the predicate's logrows, not the k=1 verifier slice: keying uses
every point. The requester brings it (the public ceremony file of that size); one the responder
served could hold points that make a key bind nothing.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ezkl

from zkgate.core.bundle import VerifierBundle
from zkgate.core.documents import DocumentError, Fields, parse_object, quote
from zkgate.core.protocols.predicate import check_predicate_scale
from zkgate.core.srs import SrsFormatError, srs_identity, verifier_slice_of_file

# The settings field that records when they were written: the one field allowed to differ.
_WRITTEN_AT = "timestamp"
# Fields ezkl fills from a set, in an order that changes from run to run.
_UNORDERED = frozenset({"required_lookups", "required_range_checks"})
# Run arguments that size the circuit without changing what it computes: calibration picks them,
# and the rebuilt key binds whatever was picked.
_RESPONDER_RUN_ARGS: dict[str, Callable[[Any], Any]] = {
    "logrows": int,
    "num_inner_cols": int,
    "lookup_range": tuple,
    "decomp_base": int,
    "decomp_legs": int,
    "scale_rebase_multiplier": int,
    "bounded_log_lookup": bool,
    "check_mode": str,
    "variables": lambda pairs: [tuple(pair) for pair in pairs],
    "disable_freivalds": bool,
    "rebase_frac_zero_constants": bool,
}


class PredicateMismatch(ValueError):
    """The bundle is not the circuit of the given ONNX at the requester's scale, or cannot be
    rebuilt."""


def check_served_scale(settings: bytes, scale: int) -> None:
    """Raises PredicateMismatch unless the responder keyed the predicate at the scale asked
    for: cheap, so a requester can refuse before any record is proven, not after."""
    try:
        run_args = parse_object(settings, what="the predicate's settings.json").object("run_args")
        served = {name: run_args.integer(name) for name in ("input_scale", "param_scale")}
    except DocumentError as exc:
        raise PredicateMismatch(str(exc)) from exc
    if set(served.values()) != {scale}:
        raise PredicateMismatch(
            f"the responder keyed the predicate at {served}, not at the scale {scale} you "
            "asked for: its circuit may not decide what your predicate decides"
        )


@dataclass(frozen=True)
class PredicateCircuit:
    """The requester's own reading of the predicate's circuit: the shapes of the record it
    takes and of its output, from the settings it derived."""

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    checks: list[str]


def _run_args(served: Fields, scale: int) -> Any:
    """ezkl run arguments: the responder's sizing choices, the requester's everything else."""
    # ezkl's stub declares none of PyRunArgs' attributes.
    run_args: Any = ezkl.PyRunArgs()
    for name, convert in _RESPONDER_RUN_ARGS.items():
        try:
            setattr(run_args, name, convert(served.any(name)))
        except (TypeError, ValueError, OverflowError) as exc:
            raise PredicateMismatch(
                f"the served run argument {name} = {quote(served.raw.get(name))} is unusable: {exc}"
            ) from exc
    run_args.input_scale = scale
    run_args.param_scale = scale
    run_args.input_visibility = "public"
    run_args.output_visibility = "public"
    run_args.param_visibility = "fixed"
    run_args.ignore_range_check_inputs_outputs = False
    return run_args


def derive_settings(onnx: bytes, served_settings: bytes, scale: int) -> dict[str, Any]:
    """ezkl's settings for the requester's ONNX at its scale, sized like the served ones."""
    try:
        served = parse_object(served_settings, what="the predicate's settings.json")
        run_args = _run_args(served.object("run_args"), scale)
    except DocumentError as exc:
        raise PredicateMismatch(str(exc)) from exc
    with tempfile.TemporaryDirectory(prefix="zkgate-predicate-") as tmp:
        directory = Path(tmp)
        (directory / "model.onnx").write_bytes(onnx)
        try:
            ezkl.gen_settings(
                str(directory / "model.onnx"),
                str(directory / "settings.json"),
                py_run_args=run_args,
            )
        except Exception as exc:  # ezkl raises bare Exceptions for models it cannot read
            raise PredicateMismatch(f"ezkl cannot build a circuit of the ONNX: {exc}") from exc
        derived: dict[str, Any] = json.loads((directory / "settings.json").read_bytes())
    return derived


def _comparable(field: str, value: Any) -> Any:
    if field in _UNORDERED and isinstance(value, list):
        return sorted(json.dumps(item, sort_keys=True) for item in value)
    return value


def _differences(served: dict[str, Any], derived: dict[str, Any]) -> list[str]:
    fields = (set(served) | set(derived)) - {_WRITTEN_AT}
    return sorted(
        field
        for field in fields
        if _comparable(field, served.get(field)) != _comparable(field, derived.get(field))
    )


def rebuild_verifying_key(onnx: bytes, settings: bytes, srs_path: Path) -> bytes:
    with tempfile.TemporaryDirectory(prefix="zkgate-predicate-") as tmp:
        directory = Path(tmp)
        paths = {name: directory / name for name in ("model.onnx", "settings.json", "compiled")}
        paths["model.onnx"].write_bytes(onnx)
        paths["settings.json"].write_bytes(settings)
        try:
            ezkl.compile_circuit(
                str(paths["model.onnx"]), str(paths["compiled"]), str(paths["settings.json"])
            )
            ezkl.setup(
                str(paths["compiled"]),
                str(directory / "vk.key"),
                str(directory / "pk.key"),
                srs_path=str(srs_path),
                witness_path=None,
                disable_selector_compression=False,
            )
        except RuntimeError as exc:
            raise PredicateMismatch(
                f"the predicate ONNX does not compile under the derived settings: {exc}"
            ) from exc
        return (directory / "vk.key").read_bytes()


def _shapes(derived: dict[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The record shape and output shape of the derived circuit: one of each, or it is no
    predicate."""
    shapes: list[Sequence[int]] = derived["model_instance_shapes"]
    if len(derived["model_input_scales"]) != 1 or len(shapes) != 2:
        raise PredicateMismatch(
            "a predicate takes one input and has one output; this ONNX has "
            f"{len(derived['model_input_scales'])} inputs and {len(shapes)} tensors in all"
        )
    input_shape, output_shape = (tuple(int(d) for d in shape) for shape in shapes)
    if math.prod(output_shape) != 2:
        raise PredicateMismatch(
            f"a predicate outputs two values (two classes), this ONNX outputs {output_shape}"
        )
    return input_shape, output_shape


def check_predicate_circuit(
    bundle: VerifierBundle, onnx: bytes, srs_path: Path, scale: int
) -> PredicateCircuit:
    """Raises PredicateMismatch unless the bundle is the circuit of `onnx` at `scale`, with
    settings that say nothing the requester's own derivation does not. Whether the SRS itself
    is trusted is checked with the proofs, as for any model."""
    try:
        identity = srs_identity(verifier_slice_of_file(srs_path))
    except (OSError, SrsFormatError) as exc:
        raise PredicateMismatch(f"cannot read the SRS file {srs_path}: {exc}") from exc
    if identity != bundle.srs_identity():
        raise PredicateMismatch(
            f"the SRS file {srs_path} (identity {identity}) is not the one the predicate was "
            f"keyed with ({bundle.srs_identity()}); give the ceremony file of logrows "
            f"{bundle.card.logrows}"
        )
    derived = derive_settings(onnx, bundle.settings, check_predicate_scale(scale))
    served: dict[str, Any] = parse_object(bundle.settings, what="settings").raw
    differing = _differences(served, derived)
    if differing:
        raise PredicateMismatch(
            f"the served settings differ from those ezkl derives from your ONNX at scale "
            f"{scale} in {quote(differing, 200)}: a proof read with them would not say what "
            "your predicate computes"
        )
    input_shape, output_shape = _shapes(derived)
    # The served settings now say what the derived ones say, so keying under them is keying
    # the requester's circuit, with the responder's order of ezkl's unordered fields.
    if rebuild_verifying_key(onnx, bundle.settings, srs_path) != bundle.verifying_key:
        raise PredicateMismatch(
            "the verifying key is not the circuit of the predicate ONNX: rebuilding it from "
            "the ONNX, the derived settings and the SRS gives other bytes"
        )
    return PredicateCircuit(
        input_shape=input_shape,
        output_shape=output_shape,
        checks=[
            f"the settings are those ezkl derives from your ONNX at scale {scale} (records and "
            f"weights in steps of 2^-{scale})",
            f"the predicate's verifying key is rebuilt byte for byte from its ONNX, the "
            f"derived settings and the SRS {identity[:16]}…",
        ],
    )
