"""Checking a served prediction against its proof, offline, trusting only a pinned commitment.

Every check that can fail has its own Reason, so that a caller (the CLI, a contest protocol) can
tell a forged proof from a lying gateway from a mere configuration problem. The order matters:
the bundle is authenticated first, because the settings it carries decide how every later
number is read.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum, auto
from pathlib import Path
from typing import Any

import ezkl
import numpy as np

from zkgate.core.batch_entry import BatchEntry
from zkgate.core.bundle import VerifierBundle
from zkgate.core.card import SRS_ORIGIN_DEV
from zkgate.core.documents import DocumentError, parse_object, quote
from zkgate.core.ezkl_version import INSTALLED_EZKL_VERSION
from zkgate.core.instances import (
    HASHED,
    PUBLIC,
    CircuitLayout,
    InstanceLayoutError,
    PublicInstances,
    QuantizationError,
    check_felt,
    dequantize,
    expected_input_felts,
    split_instances,
)
from zkgate.core.prediction import Prediction
from zkgate.core.reasoned_error import ReasonedError
from zkgate.core.receipts import ReceiptError
from zkgate.core.settings_consistency import SettingsInconsistent, check_settings_consistency
from zkgate.core.tensors import NamedTensor, tensors_digest


class Reason(StrEnum):
    INVALID_PROOF = auto()
    COMMITMENT_MISMATCH = auto()
    INPUT_MISMATCH = auto()
    OUTPUT_OUT_OF_TOLERANCE = auto()
    BAD_RECEIPT_SIGNATURE = auto()
    RECEIPT_MISMATCH = auto()
    INSECURE_SRS = auto()
    # A batched proof's entry that does not fit: outputs not the ones proven there, an index
    # outside the batch. (An entry that hashes another input is an INPUT_MISMATCH.)
    ENTRY_MISMATCH = auto()
    # NaN or an infinity in an input or a served output: ezkl reads NaN as 0, so a proof would
    # be of another input, and no tolerance holds an infinite output to anything.
    NON_FINITE = auto()
    # An input too large for the circuit's fixed-point grid: no proof can be of it.
    INPUT_OUT_OF_RANGE = auto()
    # Served tensors whose names, datatypes, shapes or order are not the committed signature.
    SIGNATURE_MISMATCH = auto()


class VerificationError(ReasonedError):
    reason: Reason

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(reason, detail)


@dataclass(frozen=True)
class ProvenRun:
    """The outputs a proof shows the committed model computed, dequantized, and the checks
    that established it."""

    outputs: list[NamedTensor]
    checks: list[str]


@dataclass(frozen=True)
class VerifiedPrediction:
    prediction: Prediction
    commitment: str
    proven_outputs: list[NamedTensor]
    max_abs_diff: float
    tolerance: float
    checks: list[str]


FailureFactory = Callable[[str], VerificationError]


def _short(hex_digest: str) -> str:
    return f"{hex_digest[:16]}…"


def _check_commitment(bundle: VerifierBundle, pinned: str, *, batch: bool = False) -> str:
    """With batch, the bundle is the batch circuit's and pinned is the batch commitment."""

    def fail(detail: str) -> VerificationError:
        return VerificationError(Reason.COMMITMENT_MISMATCH, detail)

    recomputed = bundle.commitment()
    if recomputed != pinned.lower():
        raise fail(
            f"the bundle hashes to {recomputed}, not the pinned {pinned}: its verifying key, "
            "settings, SRS slice or ezkl version differ from the committed model"
        )
    card = bundle.card
    claimed_commitment, claimed_srs = card.commitment, card.srs.identity
    if batch:
        if card.batch is None:
            raise fail("the card describes no batch circuit, yet the proof is batched")
        claimed_commitment, claimed_srs = card.batch.commitment, card.batch.srs.identity
    if claimed_commitment != recomputed:
        raise fail(f"the card claims commitment {claimed_commitment}, the bundle is {recomputed}")
    if claimed_srs != bundle.srs_identity():
        raise fail(
            f"the card claims SRS identity {claimed_srs}, "
            f"the bundle's slice is {bundle.srs_identity()}"
        )
    if card.ezkl_version != bundle.settings_ezkl_version():
        raise fail(
            f"the card says ezkl {card.ezkl_version}, "
            f"settings.json was written by ezkl {bundle.settings_ezkl_version()!r}"
        )
    if card.ezkl_version != INSTALLED_EZKL_VERSION:
        raise fail(
            f"the model was committed under ezkl {card.ezkl_version}, this client has "
            f"ezkl {INSTALLED_EZKL_VERSION}; install ezkl=={card.ezkl_version} to verify it"
        )
    return (
        f"bundle hashes to the pinned commitment {_short(pinned)}; the card agrees on it, "
        f"on SRS identity {_short(card.srs.identity)} and on ezkl {card.ezkl_version}"
    )


def _check_srs(bundle: VerifierBundle, trusted: Collection[str], allow_insecure: bool) -> str:
    identity = bundle.srs_identity()
    if identity in trusted:
        return f"SRS {_short(identity)} is among the trusted SRS identities"
    if allow_insecure:
        return (
            f"SRS {_short(identity)} is NOT trusted (card origin {bundle.card.srs.origin!r}); "
            "accepted only because insecure SRS were allowed"
        )
    if bundle.card.srs.origin == SRS_ORIGIN_DEV:
        detail = (
            f"the model's SRS {identity} was generated by the provider (origin "
            f"{SRS_ORIGIN_DEV!r}), so whoever made it can forge proofs; for development opt in "
            "with allow_insecure_srs=True (CLI: --allow-insecure-srs)"
        )
    else:
        detail = (
            f"the card claims an SRS of origin {bundle.card.srs.origin!r}, but its identity "
            f"{identity} is not trusted; after checking it against the ceremony, trust it with "
            f"trusted_srs_identities=[{identity!r}] (CLI: --trust-srs {identity})"
        )
    raise VerificationError(Reason.INSECURE_SRS, detail)


def _check_receipt(prediction: Prediction, pinned: str, gateway_public_key: bytes) -> list[str]:
    receipt = prediction.receipt
    try:
        receipt.verify_signature(gateway_public_key)
    except ReceiptError as exc:
        raise VerificationError(Reason.BAD_RECEIPT_SIGNATURE, str(exc)) from exc
    body = receipt.body
    mismatches = [
        f"{what}: receipt has {signed!r}, expected {held!r}"
        for what, signed, held in (
            ("commitment", body.commitment, pinned.lower()),
            ("model", body.model, prediction.model),
            ("request id", body.request_id, prediction.request_id),
            ("input digest", body.input_digest, tensors_digest(prediction.inputs)),
            ("output digest", body.output_digest, tensors_digest(prediction.outputs)),
        )
        if signed != held
    ]
    if mismatches:
        raise VerificationError(Reason.RECEIPT_MISMATCH, "; ".join(mismatches))
    return [
        f"receipt signature verifies under gateway key {_short(gateway_public_key.hex())}",
        f"receipt binds the pinned commitment, request {body.request_id!r} and the digests of "
        "the prediction's inputs and outputs",
    ]


def _circuit_layout(bundle: VerifierBundle, *, batch: bool = False) -> CircuitLayout:
    """A batch circuit must hash its inputs and outputs (or one client would see another's
    data); a model circuit must show its outputs. Even committed, settings must read inputs at
    the scale the key was made for: at input scale 0 every input in (-0.5, 0.5) reads as 0, and
    a provider could serve a constant function under the model's name."""
    try:
        layout = CircuitLayout.from_settings(bundle.settings)
    except InstanceLayoutError as exc:
        raise VerificationError(Reason.INVALID_PROOF, f"committed settings: {exc}") from exc
    if layout.param_visibility != "fixed":
        raise VerificationError(
            Reason.COMMITMENT_MISMATCH,
            f"params are {layout.param_visibility!r}: only 'fixed' params make the verifying "
            "key, and so the commitment, bind the model's weights",
        )
    if not layout.range_checks_io:
        raise VerificationError(
            Reason.COMMITMENT_MISMATCH,
            "the committed settings turn off the range checks on inputs and outputs "
            "(ignore_range_check_inputs_outputs): the circuit would not constrain the values "
            "it is read for",
        )
    # A batch circuit's inputs are the model's, once per entry; the count comes from the
    # committed settings, not from the card's batch size, which nothing has bound yet.
    copies = max(1, len(layout.input_scales) // len(bundle.card.inputs)) if batch else 1
    try:
        check_settings_consistency(
            bundle.settings, [spec.datatype for spec in bundle.card.inputs] * copies
        )
    except SettingsInconsistent as exc:
        raise VerificationError(
            Reason.COMMITMENT_MISMATCH,
            f"the committed settings read inputs or outputs at scales the circuit was not keyed "
            f"at: {exc}",
        ) from exc
    if batch:
        if (layout.input_visibility, layout.output_visibility) != (HASHED, HASHED):
            raise VerificationError(
                Reason.ENTRY_MISMATCH,
                f"the batch circuit's inputs are {layout.input_visibility!r} and its outputs "
                f"{layout.output_visibility!r}: a batch circuit must hash both",
            )
        return layout
    if layout.input_visibility not in (PUBLIC, HASHED):
        raise VerificationError(
            Reason.INPUT_MISMATCH,
            f"inputs are {layout.input_visibility!r}: the proof says nothing about the input",
        )
    if layout.output_visibility != PUBLIC:
        raise VerificationError(
            Reason.OUTPUT_OUT_OF_TOLERANCE,
            f"outputs are {layout.output_visibility!r}: the proof does not reveal the output "
            "to compare with the served one",
        )
    return layout


def _parse_proof(proof: bytes, layout: CircuitLayout) -> tuple[dict[str, Any], PublicInstances]:
    """Keep only `instances` and `proof`: everything else in the file is unchecked prover text."""
    try:
        raw = parse_object(proof, what="proof").raw
    except DocumentError as exc:
        raise VerificationError(Reason.INVALID_PROOF, str(exc)) from exc
    if not isinstance(raw.get("proof"), list):
        raise VerificationError(
            Reason.INVALID_PROOF, "proof JSON lacks a `proof` byte list and `instances`"
        )
    try:
        instances = split_instances(layout, raw.get("instances"))
    except InstanceLayoutError as exc:
        raise VerificationError(Reason.INVALID_PROOF, str(exc)) from exc
    return {"instances": raw["instances"], "proof": raw["proof"]}, instances


def _check_snark(stripped_proof: dict[str, Any], bundle: VerifierBundle) -> str:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zkgate-verify-") as tmp:
        directory = Path(tmp)
        paths = {
            name: directory / name for name in ("proof.json", "settings.json", "vk.key", "srs")
        }
        paths["proof.json"].write_text(json.dumps(stripped_proof), encoding="utf-8")
        paths["settings.json"].write_bytes(bundle.settings)
        paths["vk.key"].write_bytes(bundle.verifying_key)
        paths["srs"].write_bytes(bundle.srs_slice)
        try:
            ezkl.verify(
                str(paths["proof.json"]),
                str(paths["settings.json"]),
                str(paths["vk.key"]),
                str(paths["srs"]),
                False,  # reduced_srs: the slice is already the smallest SRS there is
            )
        except RuntimeError as exc:
            raise VerificationError(Reason.INVALID_PROOF, str(exc)) from exc
    elapsed_ms = (time.perf_counter() - started) * 1000
    return (
        f"zk-SNARK verifies under the committed verifying key and SRS "
        f"(ezkl {INSTALLED_EZKL_VERSION}, {elapsed_ms:.0f} ms)"
    )


def _input_felts(layout: CircuitLayout, position: int, tensor: NamedTensor) -> list[str]:
    """What the proof must hold for this input at this position, or the reason no proof can."""
    try:
        return expected_input_felts(layout, position, tensor.array)
    except QuantizationError as exc:
        finite = not (tensor.array.dtype.kind == "f" and not np.all(np.isfinite(tensor.array)))
        raise VerificationError(
            Reason.INPUT_OUT_OF_RANGE if finite else Reason.NON_FINITE,
            f"input {tensor.name!r} cannot be a circuit input: {exc}",
        ) from exc


def _check_inputs(
    inputs: Sequence[NamedTensor], instances: PublicInstances, layout: CircuitLayout
) -> str:
    if len(inputs) != len(layout.input_scales):
        raise VerificationError(
            Reason.INPUT_MISMATCH,
            f"the prediction has {len(inputs)} inputs, the circuit {len(layout.input_scales)}",
        )
    for index, (tensor, proven) in enumerate(zip(inputs, instances.inputs, strict=True)):
        if _input_felts(layout, index, tensor) != proven:
            raise VerificationError(
                Reason.INPUT_MISMATCH,
                f"input {tensor.name!r} quantized at scale 2^{layout.input_scales[index]} does "
                "not equal the input the proof was made for",
            )
    form = "Poseidon hash" if layout.input_visibility == HASHED else "fixed-point values"
    return f"the proof's public inputs equal the sent inputs ({form})"


# Where proven output values are read into: a name and a shape per output tensor.
OutputSlot = tuple[str, tuple[int, ...]]


def _card_output_slots(bundle: VerifierBundle) -> list[OutputSlot]:
    return [(spec.name, tuple(spec.shape)) for spec in bundle.card.outputs]


def _slot_values(
    slot: OutputSlot, felts: Sequence[str], scale: int, fail: FailureFactory
) -> NamedTensor:
    name, shape = slot
    size = math.prod(shape)
    if size != len(felts):
        raise fail(f"output {name!r} has {size} values, the proof {len(felts)}")
    values = dequantize(list(felts), scale).reshape(shape)
    return NamedTensor(name=name, datatype="FP64", array=values)


def _proven_outputs(
    slots: Sequence[OutputSlot], instances: PublicInstances, layout: CircuitLayout
) -> list[NamedTensor]:
    def fail(detail: str) -> VerificationError:
        return VerificationError(Reason.OUTPUT_OUT_OF_TOLERANCE, detail)

    if len(slots) != len(layout.output_scales):
        raise fail(f"there are {len(slots)} outputs, the circuit has {len(layout.output_scales)}")
    return [
        _slot_values(slot, felts, scale, fail)
        for slot, felts, scale in zip(slots, instances.outputs, layout.output_scales, strict=True)
    ]


def _check_entry(
    inputs: Sequence[NamedTensor],
    slots: Sequence[OutputSlot],
    entry: BatchEntry,
    instances: PublicInstances,
    layout: CircuitLayout,
    batch_size: int,
) -> tuple[str, list[NamedTensor]]:
    """That the proof's entry at entry.index hashes these inputs and the outputs the job
    reported for it; returns the check and those outputs, dequantized."""

    def fail(detail: str) -> VerificationError:
        return VerificationError(Reason.ENTRY_MISMATCH, detail)

    per_input, per_output = len(inputs), len(slots)
    if entry.size != batch_size or not 0 <= entry.index < batch_size:
        raise fail(
            f"entry {entry.index} of a batch of {entry.size} does not fit the committed batch "
            f"circuit of {batch_size}"
        )
    if (len(layout.input_scales), len(layout.output_scales)) != (
        batch_size * per_input,
        batch_size * per_output,
    ):
        raise fail(
            f"the batch circuit has {len(layout.input_scales)} inputs and "
            f"{len(layout.output_scales)} outputs, not {batch_size} entries of "
            f"{per_input} and {per_output}"
        )
    first_input, first_output = entry.index * per_input, entry.index * per_output
    for offset, tensor in enumerate(inputs):
        position = first_input + offset
        if _input_felts(layout, position, tensor) != instances.inputs[position]:
            raise VerificationError(
                Reason.INPUT_MISMATCH,
                f"the proof's entry {entry.index} does not hash your input {tensor.name!r}: "
                "the index is wrong, or the entry (and the proof) belongs to another request",
            )
    if len(entry.outputs) != per_output:
        raise fail(f"the job reports {len(entry.outputs)} outputs, the model has {per_output}")
    proven = []
    for offset, (slot, felts) in enumerate(zip(slots, entry.outputs, strict=True)):
        position = first_output + offset
        try:
            checked = [check_felt(felt, i) for i, felt in enumerate(felts)]
        except InstanceLayoutError as exc:
            raise fail(f"output {slot[0]!r} as the job reports it: {exc}") from exc
        if len(checked) != math.prod(slot[1]):
            raise fail(
                f"the job reports {len(checked)} values for output {slot[0]!r} of shape "
                f"{list(slot[1])}"
            )
        if [ezkl.poseidon_hash(checked)[0]] != instances.outputs[position]:
            raise fail(
                f"the proof's entry {entry.index} does not hash the outputs reported for "
                f"{slot[0]!r}: they are not what was proven for this entry"
            )
        proven.append(_slot_values(slot, checked, layout.output_scales[position], fail))
    return (
        f"entry {entry.index} of the batch of {batch_size} hashes your inputs and the outputs "
        "proven for you (Poseidon)",
        proven,
    )


def _max_abs_diff(served: Sequence[NamedTensor], proven: Sequence[NamedTensor]) -> float:
    diffs = [
        float(np.max(np.abs(np.subtract(s.array, p.array, dtype=np.float64)), initial=0.0))
        for s, p in zip(served, proven, strict=True)
    ]
    return max(diffs, default=0.0)


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
        slots = _card_output_slots(self.bundle) if output_slots is None else list(output_slots)
        if (batch_entry is not None) != self.batched:
            raise VerificationError(
                Reason.ENTRY_MISMATCH,
                "a batched proof is read at a batch entry, and a single proof without one",
            )
        if batch_entry is None:
            input_check = _check_inputs(inputs, self.instances, self.layout)
            return ProvenRun(
                outputs=_proven_outputs(slots, self.instances, self.layout),
                checks=[*self.checks, input_check],
            )
        assert self.bundle.card.batch is not None  # _check_commitment saw to it
        entry_check, proven = _check_entry(
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
        checks = [_check_commitment(bundle, pinned_commitment)]
    else:
        if bundle.card.commitment != pinned_commitment.lower():
            raise VerificationError(
                Reason.COMMITMENT_MISMATCH,
                f"the batch bundle's card is of commitment {bundle.card.commitment}, not the "
                f"pinned {pinned_commitment}",
            )
        checks = [_check_commitment(bundle, str(pinned_batch_commitment), batch=True)]
    checks.append(_check_srs(bundle, trusted_srs_identities, allow_insecure_srs))
    layout = _circuit_layout(bundle, batch=batched)
    stripped_proof, instances = _parse_proof(proof, layout)
    checks.append(_check_snark(stripped_proof, bundle))
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


def verify(
    prediction: Prediction,
    proof: bytes,
    bundle: VerifierBundle,
    *,
    pinned_commitment: str,
    gateway_public_key: bytes,
    allow_insecure_srs: bool = False,
    trusted_srs_identities: Collection[str] = (),
    tolerance: float | None = None,
    batch_entry: BatchEntry | None = None,
    pinned_batch_commitment: str | None = None,
) -> VerifiedPrediction:
    """Raises VerificationError at the first failed check; returns what was proven otherwise:
    `check_proof` (which authenticates the card), the served tensors against the committed
    signature, the receipt, then the served outputs against the proven ones.

    The default tolerance is the committed one (the card's fidelity, covered by the pinned
    commitment); a caller's own must be a finite, non-negative number (ValueError otherwise).
    """
    limit = _tolerance(bundle, tolerance)
    run = check_proof(
        prediction.inputs,
        proof,
        bundle,
        pinned_commitment=pinned_commitment,
        allow_insecure_srs=allow_insecure_srs,
        trusted_srs_identities=trusted_srs_identities,
        batch_entry=batch_entry,
        pinned_batch_commitment=pinned_batch_commitment,
    )
    checks = [
        *run.checks,
        _check_signature(prediction, bundle),
        *_check_receipt(prediction, pinned_commitment, gateway_public_key),
    ]
    diff = _max_abs_diff(prediction.outputs, run.outputs)
    if not diff <= limit:  # NaN-proof: _check_signature refused non-finite outputs already
        raise VerificationError(
            Reason.OUTPUT_OUT_OF_TOLERANCE,
            f"served outputs differ from the proven ones by up to {diff:.6g}, "
            f"more than the tolerance {limit:.6g}",
        )
    checks.append(
        f"served outputs agree with the proven outputs: max |diff| {diff:.3g} "
        f"<= tolerance {limit:.3g}"
    )
    return VerifiedPrediction(
        prediction=prediction,
        commitment=pinned_commitment.lower(),
        proven_outputs=run.outputs,
        max_abs_diff=diff,
        tolerance=limit,
        checks=checks,
    )


def _tolerance(bundle: VerifierBundle, tolerance: float | None) -> float:
    if tolerance is None:
        return bundle.card.fidelity.tolerance
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float):
        raise ValueError(f"tolerance must be a number, not {quote(tolerance)}")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be finite and non-negative, not {tolerance}")
    return float(tolerance)


def _check_signature(prediction: Prediction, bundle: VerifierBundle) -> str:
    """The served tensors are the committed model's, by name, datatype, shape and order, and
    hold only finite numbers. Without this a provider could sign an output renamed and reshaped
    into something else, and the verified prediction would carry its name and shape."""
    card = bundle.card
    for role, served, declared in (
        ("input", prediction.inputs, card.inputs),
        ("output", prediction.outputs, card.outputs),
    ):
        got = [(t.name, t.datatype, list(t.shape)) for t in served]
        want = [(spec.name, spec.datatype, spec.shape) for spec in declared]
        if got != want:
            raise VerificationError(
                Reason.SIGNATURE_MISMATCH,
                f"the served {role}s are {_signature(got)}, the committed model's "
                f"{_signature(want)}",
            )
        for tensor in served:
            if tensor.array.dtype.kind == "f" and not np.all(np.isfinite(tensor.array)):
                raise VerificationError(
                    Reason.NON_FINITE,
                    f"served {role} {tensor.name!r} holds NaN or infinite values",
                )
    return "served inputs and outputs have the committed names, datatypes and shapes"


def _signature(tensors: Sequence[tuple[str, str, list[int]]]) -> str:
    return quote(", ".join(f"{name} {datatype}{shape}" for name, datatype, shape in tensors), 200)
