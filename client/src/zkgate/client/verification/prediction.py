"""Verifying a served prediction: what its proof shows (`proof.check_proof`), then that the served
tensors are the committed model's, that the receipt binds them, and that the served outputs are
the proven ones within the tolerance."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from zkgate.client.verification.proof import check_proof
from zkgate.client.verification.reasons import Reason, VerificationError, abbreviated
from zkgate.core.batch_entry import BatchEntry
from zkgate.core.bundle import VerifierBundle
from zkgate.core.card import TensorSpec, is_integer_datatype
from zkgate.core.documents import quote
from zkgate.core.prediction import Prediction
from zkgate.core.receipts import ReceiptError
from zkgate.core.tensors import NamedTensor


@dataclass(frozen=True)
class VerifiedPrediction:
    prediction: Prediction
    commitment: str
    proven_outputs: list[NamedTensor]
    max_abs_diff: float
    tolerance: float
    checks: list[str]


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

    The default tolerances are the committed ones (the card's fidelity, each output's own where
    the card has them, covered by the pinned commitment); a caller's own applies to every float
    output and must be a finite, non-negative number (ValueError otherwise). Integer outputs
    (class labels, counts) must equal the proven ones exactly, whatever the tolerance.
    """
    limits = _tolerances(bundle, tolerance)
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
    diffs = _abs_diffs(prediction.outputs, run.outputs)
    checks.append(_check_tolerances(bundle.card.outputs, diffs, limits))
    return VerifiedPrediction(
        prediction=prediction,
        commitment=pinned_commitment.lower(),
        proven_outputs=run.outputs,
        max_abs_diff=max(diffs, default=0.0),
        tolerance=max(limits, default=0.0),
        checks=checks,
    )


def _tolerances(bundle: VerifierBundle, tolerance: float | None) -> list[float]:
    """The limit of each output, in the model's output order."""
    outputs = bundle.card.outputs
    if tolerance is None:
        return bundle.card.fidelity.output_tolerances(outputs)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float):
        raise ValueError(f"tolerance must be a number, not {quote(tolerance)}")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be finite and non-negative, not {tolerance}")
    return [0.0 if is_integer_datatype(s.datatype) else float(tolerance) for s in outputs]


def _check_tolerances(
    outputs: Sequence[TensorSpec], diffs: Sequence[float], limits: Sequence[float]
) -> str:
    """Each served output against its proven one: integer outputs equal, float outputs within
    their tolerance."""
    for spec, diff, limit in zip(outputs, diffs, limits, strict=True):
        if diff <= limit:  # NaN-proof: _check_signature refused non-finite outputs already
            continue
        if is_integer_datatype(spec.datatype):
            detail = (
                f"served output {spec.name!r} ({spec.datatype}) differs from the proven one by "
                f"up to {diff:.6g}: an integer output (a class label, a count) must equal the "
                "proven value exactly"
            )
        else:
            detail = (
                f"served output {spec.name!r} differs from the proven one by up to {diff:.6g}, "
                f"more than the tolerance {limit:.6g}"
            )
        raise VerificationError(Reason.OUTPUT_OUT_OF_TOLERANCE, detail)
    agreed = [
        f"{spec.name} equal"
        if is_integer_datatype(spec.datatype)
        else f"{spec.name} max |diff| {diff:.3g} <= tolerance {limit:.3g}"
        for spec, diff, limit in zip(outputs, diffs, limits, strict=True)
    ]
    return "served outputs agree with the proven outputs: " + "; ".join(agreed)


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


def _check_receipt(prediction: Prediction, pinned: str, gateway_public_key: bytes) -> list[str]:
    receipt = prediction.receipt
    try:
        receipt.verify_signature(gateway_public_key)
    except ReceiptError as exc:
        raise VerificationError(Reason.BAD_RECEIPT_SIGNATURE, str(exc)) from exc
    body = receipt.body
    pins = [("commitment", body.commitment, pinned.lower())]
    mismatches = [
        f"{what}: receipt has {signed!r}, expected {held!r}"
        for what, signed, held in [*pins, *prediction.receipt_disagreements()]
        if signed != held
    ]
    if mismatches:
        raise VerificationError(Reason.RECEIPT_MISMATCH, "; ".join(mismatches))
    return [
        f"receipt signature verifies under gateway key {abbreviated(gateway_public_key.hex())}",
        f"receipt binds the pinned commitment, request {body.request_id!r} and the digests of "
        "the prediction's inputs and outputs",
    ]


def _abs_diffs(served: Sequence[NamedTensor], proven: Sequence[NamedTensor]) -> list[float]:
    """The largest |served - proven| of each output."""
    return [
        float(np.max(np.abs(np.subtract(s.array, p.array, dtype=np.float64)), initial=0.0))
        for s, p in zip(served, proven, strict=True)
    ]
