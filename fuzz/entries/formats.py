"""Entry points of the document formats: the shared bounded reader, the model card, the
verifier bundle's parts, predictions, receipts, batch entries, settings and SRS slices."""

from __future__ import annotations

import contextlib

from fuzz.entries.entry import EntryPoint, bundle_with, text
from fuzz.seeds import Seeds
from zkgate.core.batch_entry import BatchEntry, BatchEntryFormatError
from zkgate.core.bundle import BundleError
from zkgate.core.card import CardFormatError, ModelCard
from zkgate.core.documents import DocumentError, parse_object
from zkgate.core.instances import CircuitLayout, InstanceLayoutError
from zkgate.core.prediction import Prediction, PredictionFormatError
from zkgate.core.receipts import Receipt, ReceiptError
from zkgate.core.srs import SrsFormatError, srs_identity


def documents_layer(data: bytes, ctx: Seeds) -> object:
    """The shared bounded reader, and every typed accessor over every field it finds."""
    fields = parse_object(data, what="document")
    for key in list(fields.keys()):
        for read in (
            fields.any,
            fields.text,
            fields.optional_text,
            fields.boolean,
            fields.integer,
            fields.count,
            fields.optional_count,
            fields.number,
            fields.optional_number,
            fields.array,
            fields.texts,
            fields.counts,
            fields.object,
            fields.optional_object,
            fields.objects,
            fields.string_map,
        ):
            with contextlib.suppress(DocumentError):
                read(key)
    return fields.only("format")


def card_from_json(data: bytes, ctx: Seeds) -> object:
    return ModelCard.from_json(data)


def bundle_card(data: bytes, ctx: Seeds) -> object:
    return bundle_with(ctx, card_json=text(data))


def bundle_settings(data: bytes, ctx: Seeds) -> object:
    return bundle_with(ctx, settings=data)


def bundle_srs(data: bytes, ctx: Seeds) -> object:
    return bundle_with(ctx, srs_slice=data)


def prediction_from_json(data: bytes, ctx: Seeds) -> object:
    return Prediction.from_json(data)


def receipt_from_json(data: bytes, ctx: Seeds) -> object:
    receipt = Receipt.from_json(data)
    receipt.verify_signature(ctx.gateway_key)
    return receipt


def batch_entry_from_json(data: bytes, ctx: Seeds) -> object:
    return BatchEntry.from_json(data)


def settings_layout(data: bytes, ctx: Seeds) -> object:
    return CircuitLayout.from_settings(data)


def srs_slice_identity(data: bytes, ctx: Seeds) -> object:
    return srs_identity(data)


FORMAT_ENTRIES: tuple[EntryPoint, ...] = (
    EntryPoint(
        "documents",
        ("card", "settings", "certificate", "manifest", "retrieval_result"),
        documents_layer,
        (DocumentError,),
        "zkgate.core.documents",
    ),
    EntryPoint("card", ("card",), card_from_json, (CardFormatError,), "zkgate.core.card"),
    EntryPoint("bundle_card", ("card",), bundle_card, (BundleError,), "zkgate.core.bundle"),
    EntryPoint(
        "bundle_settings", ("settings",), bundle_settings, (BundleError,), "zkgate.core.bundle"
    ),
    EntryPoint("bundle_srs", ("srs_slice",), bundle_srs, (BundleError,), "zkgate.core.bundle"),
    EntryPoint(
        "prediction",
        ("prediction",),
        prediction_from_json,
        (PredictionFormatError,),
        "zkgate.core.prediction",
    ),
    EntryPoint("receipt", ("receipt",), receipt_from_json, (ReceiptError,), "zkgate.core.receipts"),
    EntryPoint(
        "batch_entry",
        ("batch_entry",),
        batch_entry_from_json,
        (BatchEntryFormatError,),
        "zkgate.client.verification",
    ),
    EntryPoint(
        "settings_layout",
        ("settings",),
        settings_layout,
        (InstanceLayoutError,),
        "zkgate.core.instances",
    ),
    EntryPoint(
        "srs_identity", ("srs_slice",), srs_slice_identity, (SrsFormatError,), "zkgate.core.srs"
    ),
)
