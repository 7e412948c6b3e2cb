"""Tying a predicate's verifying key to the ONNX the requester wrote.

A retrieval proof is worth something only if its verifying key is the circuit of the requester's
own predicate. The responder compiles and keys the predicate, so the requester checks its work:
it compiles the same ONNX under the settings the responder chose and runs ezkl's (deterministic)
key generation with an SRS file it trusts; the verifying key must come out byte for byte equal.
Settings the responder chose badly (a coarse scale, say) are then the requester's to read, but a
different circuit is impossible to pass off.

This needs the full SRS file of the predicate's logrows, not the k=1 verifier slice: keying uses
every point. The requester brings it (the public ceremony file of that size); one the responder
served could hold points that make a key bind nothing.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import ezkl

from zkgate.client.bundle import VerifierBundle
from zkgate.client.srs import SrsFormatError, srs_identity, verifier_slice_of_file

# The coarsest fixed-point scale (bits after the point) a predicate may be compiled at. Settings
# are the responder's choice; at a coarse enough scale every record would round to the same
# class, and a responder could then prove that nothing matches.
MIN_PREDICATE_SCALE = 7


class PredicateMismatch(ValueError):
    """The bundle's verifying key is not the circuit of the given ONNX, or cannot be rebuilt."""


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
                f"the predicate ONNX does not compile under the responder's settings: {exc}"
            ) from exc
        return (directory / "vk.key").read_bytes()


def check_predicate_circuit(bundle: VerifierBundle, onnx: bytes, srs_path: Path) -> str:
    """Raises PredicateMismatch unless the bundle's key is the circuit of `onnx`. Whether the
    SRS itself is trusted is checked with the proofs, as for any model."""
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
    try:
        run_args = json.loads(bundle.settings)["run_args"]
        scales = {name: int(run_args[name]) for name in ("input_scale", "param_scale")}
    except (ValueError, TypeError, KeyError) as exc:
        raise PredicateMismatch(f"the predicate's settings are unreadable: {exc!r}") from exc
    coarse = {name: scale for name, scale in scales.items() if scale < MIN_PREDICATE_SCALE}
    if coarse:
        raise PredicateMismatch(
            f"the responder compiled the predicate at {coarse} (bits after the point); below "
            f"{MIN_PREDICATE_SCALE} the circuit may not compute the predicate you wrote"
        )
    if rebuild_verifying_key(onnx, bundle.settings, srs_path) != bundle.verifying_key:
        raise PredicateMismatch(
            "the verifying key is not the circuit of the predicate ONNX: rebuilding it from "
            "the ONNX, the committed settings and the SRS gives other bytes"
        )
    return (
        f"the predicate's verifying key is rebuilt byte for byte from its ONNX and the SRS "
        f"{identity[:16]}…"
    )
