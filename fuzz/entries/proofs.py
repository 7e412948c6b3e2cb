"""Entry points of proof verification: a prediction checked against its proof and bundle, one
part at a time made hostile, for the model's circuit and for its batch circuit."""

from __future__ import annotations

from fuzz.entries.entry import EntryPoint, bundle_with, text
from fuzz.seeds import Seeds
from zkgate.client.verification.prediction import verify
from zkgate.client.verification.proof import check_proof
from zkgate.client.verification.reasons import VerificationError
from zkgate.core.batch_entry import BatchEntry, BatchEntryFormatError
from zkgate.core.bundle import BundleError, VerifierBundle
from zkgate.core.prediction import Prediction, PredictionFormatError


def _verify(ctx: Seeds, **changes: object) -> object:
    prediction = changes.pop("prediction", ctx.prediction)
    proof = changes.pop("proof", ctx.proof)
    bundle = changes.pop("bundle", ctx.bundle)
    assert isinstance(bundle, VerifierBundle)
    return verify(
        prediction,  # type: ignore[arg-type]
        proof,  # type: ignore[arg-type]
        bundle,
        pinned_commitment=str(changes.pop("pinned", ctx.commitment)),
        gateway_public_key=ctx.gateway_key,
        allow_insecure_srs=True,
        **changes,  # type: ignore[arg-type]
    )


def verify_mutated_proof(data: bytes, ctx: Seeds) -> object:
    return _verify(ctx, proof=data)


def check_mutated_proof(data: bytes, ctx: Seeds) -> object:
    return check_proof(
        ctx.prediction.inputs,
        data,
        ctx.bundle,
        pinned_commitment=ctx.commitment,
        allow_insecure_srs=True,
    )


def verify_mutated_prediction(data: bytes, ctx: Seeds) -> object:
    return _verify(ctx, prediction=Prediction.from_json(data))


def verify_mutated_card(data: bytes, ctx: Seeds) -> object:
    """The card is the provider's: it is not covered by the commitment, so a verifier must read
    any card without crashing."""
    return _verify(ctx, bundle=bundle_with(ctx, card_json=text(data)))


def verify_mutated_settings(data: bytes, ctx: Seeds) -> object:
    """A provider may commit to any settings file: the commitment pinned is the bundle's own."""
    bundle = bundle_with(ctx, settings=data)
    return _verify(ctx, bundle=bundle, pinned=bundle.commitment())


def _verify_batched(ctx: Seeds, **changes: object) -> object:
    entry = changes.pop("batch_entry", None) or BatchEntry.from_json(ctx.documents["batch_entry"])
    return _verify(
        ctx,
        batch_entry=entry,
        pinned_batch_commitment=changes.pop("pinned_batch", ctx.batch_commitment),
        bundle=changes.pop("bundle", ctx.batch_bundle),
        proof=changes.pop("proof", ctx.batch_proof),
        **changes,
    )


def verify_mutated_batch_entry(data: bytes, ctx: Seeds) -> object:
    return _verify_batched(ctx, batch_entry=BatchEntry.from_json(data))


def verify_mutated_batch_proof(data: bytes, ctx: Seeds) -> object:
    return _verify_batched(ctx, proof=data)


def verify_mutated_batch_card(data: bytes, ctx: Seeds) -> object:
    return _verify_batched(ctx, bundle=bundle_with(ctx, batch=True, card_json=text(data)))


def verify_mutated_batch_settings(data: bytes, ctx: Seeds) -> object:
    bundle = bundle_with(ctx, batch=True, settings=data)
    return _verify_batched(ctx, bundle=bundle, pinned_batch=bundle.commitment())


PROOF_ENTRIES: tuple[EntryPoint, ...] = (
    EntryPoint(
        "verify_proof",
        ("proof",),
        verify_mutated_proof,
        (VerificationError,),
        "zkgate.client.verification",
    ),
    EntryPoint(
        "check_proof",
        ("proof",),
        check_mutated_proof,
        (VerificationError,),
        "zkgate.client.verification",
    ),
    EntryPoint(
        "verify_prediction",
        ("prediction",),
        verify_mutated_prediction,
        (PredictionFormatError, VerificationError),
        "zkgate.client.verification",
    ),
    EntryPoint(
        "verify_card",
        ("card",),
        verify_mutated_card,
        (BundleError, VerificationError),
        "zkgate.client.verification",
    ),
    EntryPoint(
        "verify_settings",
        ("settings",),
        verify_mutated_settings,
        (BundleError, VerificationError),
        "zkgate.client.verification",
    ),
    EntryPoint(
        "verify_batch_entry",
        ("batch_entry",),
        verify_mutated_batch_entry,
        (BatchEntryFormatError, VerificationError),
        "zkgate.client.verification",
    ),
    EntryPoint(
        "verify_batch_proof",
        ("batch_proof",),
        verify_mutated_batch_proof,
        (VerificationError,),
        "zkgate.client.verification",
    ),
    EntryPoint(
        "verify_batch_card",
        ("batch_card",),
        verify_mutated_batch_card,
        (BundleError, VerificationError),
        "zkgate.client.verification",
    ),
    EntryPoint(
        "verify_batch_settings",
        ("batch_settings",),
        verify_mutated_batch_settings,
        (BundleError, VerificationError),
        "zkgate.client.verification",
    ),
)
