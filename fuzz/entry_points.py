"""Every parser and verification entry point of the client, with the errors each documents.

One table serves the property tests (tests/client/test_fuzz_client.py) and the atheris targets
(fuzz/fuzz_*.py): an entry point takes one untrusted document (bytes) and the verification
context of a real committed circuit (`Seeds`), and may raise only its documented errors. Anything
else (TypeError, IndexError, RecursionError, OverflowError, ...) is a bug in the entry point.

Documented errors, read from the code (the format's own ValueError subclass for parsers; the
reasoned error of the protocol for checks):
- ModelCard.from_json: CardFormatError           - VerifierBundle.from_bytes: BundleError
- Prediction.from_json: PredictionFormatError    - Receipt.from_json: ReceiptError
- BatchEntry.from_json: BatchEntryFormatError    - verify / check_proof: VerificationError
- CircuitLayout.from_settings: InstanceLayoutError
- srs_identity: SrsFormatError
- AccuracyCertificate.from_json: AccuracyFormatError; verify_accuracy: AccuracyError
- signed statements (.from_json, .verify): AttestationError
- EvidenceBundle.from_json, check_evidence: EvidenceError
- RetrievalResult.from_json: RetrievalFormatError; verify_retrieval: RetrievalError
- learning archives (check_archive, extract_archive): ArchiveError
- pol Manifest.from_json: ManifestError (and the intent's AttestationError, the policy's
  PolicyError, which it re-raises as they are); TrainingPolicy.from_json: PolicyError
- NamedTensor.from_raw, decode_tensors: TensorError
- TestSet.from_npy: TestSetError; Dataset.from_npy / load_npy: RowsError
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zkgate.client.protocols.accuracy.verification import AccuracyError, verify_accuracy
from zkgate.client.protocols.contest.evidence import EvidenceBundle, EvidenceError, check_evidence
from zkgate.client.protocols.retrieval.verification import RetrievalError, verify_retrieval
from zkgate.client.verification.prediction import verify
from zkgate.client.verification.proof import check_proof
from zkgate.client.verification.reasons import VerificationError
from zkgate.core.array_rows import RowsError, load_npy
from zkgate.core.attestations import (
    AttestationError,
    CommitmentTimestamp,
    SignedStatement,
    TrainingIntent,
)
from zkgate.core.batch_entry import BatchEntry, BatchEntryFormatError
from zkgate.core.bundle import BundleError, VerifierBundle
from zkgate.core.card import CardFormatError, ModelCard
from zkgate.core.dataset import Dataset
from zkgate.core.documents import DocumentError, parse_object
from zkgate.core.held_out_set import TestSet, TestSetError
from zkgate.core.instances import CircuitLayout, InstanceLayoutError
from zkgate.core.learning.archive import ArchiveError, check_archive, extract_archive
from zkgate.core.learning.manifest import Manifest, ManifestError
from zkgate.core.learning.policy import PolicyError, TrainingPolicy
from zkgate.core.oip_codec import decode_tensors
from zkgate.core.prediction import Prediction, PredictionFormatError
from zkgate.core.protocols.accuracy import (
    AccuracyCertificate,
    AccuracyFormatError,
    AccuracyStatement,
)
from zkgate.core.protocols.contest import ContestStatement
from zkgate.core.protocols.retrieval import (
    DatasetStatement,
    RequesterRecord,
    Retrieval,
    RetrievalFormatError,
    RetrievalResult,
    RetrievalStatement,
)
from zkgate.core.receipts import Receipt, ReceiptError
from zkgate.core.srs import SrsFormatError, srs_identity
from zkgate.core.tensors import NamedTensor, TensorError
from zkgate.wire import open_inference_pb2 as oip

from .seeds import Seeds

Errors = tuple[type[BaseException], ...]


@dataclass(frozen=True)
class EntryPoint:
    name: str
    # Which real documents (Seeds.documents keys) mutation starts from.
    seeds: tuple[str, ...]
    call: Callable[[bytes, Seeds], object]
    documented: Errors
    # The module where a crash is to be fixed (for routing reports).
    owner: str


def _text(data: bytes) -> str:
    """A str-taking entry point gets the bytes as the file reader would give them."""
    return data.decode("utf-8", errors="replace")


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


def _bundle_with(ctx: Seeds, *, batch: bool = False, **parts: object) -> VerifierBundle:
    base = ctx.batch_bundle if batch else ctx.bundle
    fields: dict[str, object] = {
        "card_json": base.card_json,
        "verifying_key": base.verifying_key,
        "settings": base.settings,
        "srs_slice": base.srs_slice,
        **parts,
    }
    return VerifierBundle.from_bytes(**fields)  # type: ignore[arg-type]


def card_from_json(data: bytes, ctx: Seeds) -> object:
    return ModelCard.from_json(data)


def bundle_card(data: bytes, ctx: Seeds) -> object:
    return _bundle_with(ctx, card_json=_text(data))


def bundle_settings(data: bytes, ctx: Seeds) -> object:
    return _bundle_with(ctx, settings=data)


def bundle_srs(data: bytes, ctx: Seeds) -> object:
    return _bundle_with(ctx, srs_slice=data)


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
    return _verify(ctx, bundle=_bundle_with(ctx, card_json=_text(data)))


def verify_mutated_settings(data: bytes, ctx: Seeds) -> object:
    """A provider may commit to any settings file: the commitment pinned is the bundle's own."""
    bundle = _bundle_with(ctx, settings=data)
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
    return _verify_batched(ctx, bundle=_bundle_with(ctx, batch=True, card_json=_text(data)))


def verify_mutated_batch_settings(data: bytes, ctx: Seeds) -> object:
    bundle = _bundle_with(ctx, batch=True, settings=data)
    return _verify_batched(ctx, bundle=bundle, pinned_batch=bundle.commitment())


def certificate_from_json(data: bytes, ctx: Seeds) -> object:
    return AccuracyCertificate.from_json(data)


def _verify_accuracy(
    certificate: AccuracyCertificate, ctx: Seeds, bundle: VerifierBundle | None = None
) -> object:
    bundle = bundle or ctx.batch_bundle
    return verify_accuracy(
        certificate,
        ctx.test_set,
        bundle,
        pinned_commitment=ctx.commitment,
        pinned_batch_commitment=bundle.commitment(),
        gateway_public_key=ctx.gateway_key,
        allow_insecure_srs=True,
    )


def verify_mutated_certificate(data: bytes, ctx: Seeds) -> object:
    return _verify_accuracy(AccuracyCertificate.from_json(data), ctx)


def verify_accuracy_mutated_card(data: bytes, ctx: Seeds) -> object:
    certificate = AccuracyCertificate.from_json(ctx.documents["certificate"])
    return _verify_accuracy(certificate, ctx, _bundle_with(ctx, batch=True, card_json=_text(data)))


def _statement(kind: type[SignedStatement]) -> Callable[[bytes, Seeds], object]:
    def parse(data: bytes, ctx: Seeds) -> object:
        statement = kind.from_json(data)
        statement.verify()
        return statement

    return parse


def evidence_from_json(data: bytes, ctx: Seeds) -> object:
    return EvidenceBundle.from_json(data)


def check_mutated_evidence(data: bytes, ctx: Seeds) -> object:
    return check_evidence(EvidenceBundle.from_json(data), ctx.gateway_key)


def retrieval_result_from_json(data: bytes, ctx: Seeds) -> object:
    return RetrievalResult.from_json(data)


def _verify_retrieval(result: RetrievalResult, dataset: DatasetStatement, ctx: Seeds) -> object:
    """The (possibly mutated) result against the record an honest requester holds: the answer
    as signed before the reveal, its nonce, sample size and scale."""
    honest = RetrievalResult.from_json(ctx.documents["retrieval_result"])
    record = RequesterRecord(
        statement=honest.statement,
        client_nonce=honest.client_nonce,
        sample_size=honest.statement.sample_size,
        scale=json.loads(ctx.bundle.settings)["run_args"]["input_scale"],
    )
    return verify_retrieval(
        Retrieval(record=record, result=result),
        dataset,
        ctx.onnx,
        ctx.bundle,
        srs_path=ctx.srs_path,
        gateway_public_key=ctx.gateway_key,
        allow_insecure_srs=True,
    )


def verify_mutated_retrieval_result(data: bytes, ctx: Seeds) -> object:
    dataset = DatasetStatement.from_json(ctx.documents["dataset_statement"])
    return _verify_retrieval(RetrievalResult.from_json(data), dataset, ctx)


def verify_retrieval_mutated_dataset(data: bytes, ctx: Seeds) -> object:
    result = RetrievalResult.from_json(ctx.documents["retrieval_result"])
    return _verify_retrieval(result, DatasetStatement.from_json(data), ctx)


def archive_check(data: bytes, ctx: Seeds) -> object:
    check_archive(data)
    with tempfile.TemporaryDirectory(prefix="zkgate-fuzz-extract-") as tmp:
        return extract_archive(data, Path(tmp) / "out")


def manifest_from_json(data: bytes, ctx: Seeds) -> object:
    manifest = Manifest.from_json(data)
    manifest.verify_signature()
    return manifest


def policy_from_json(data: bytes, ctx: Seeds) -> object:
    return TrainingPolicy.from_json(data)


def test_set_from_npy(data: bytes, ctx: Seeds) -> object:
    return TestSet.from_npy(data, ctx.documents["npy_labels"])


def test_set_labels_from_npy(data: bytes, ctx: Seeds) -> object:
    return TestSet.from_npy(ctx.documents["npy_examples"], data)


def dataset_from_npy(data: bytes, ctx: Seeds) -> object:
    return Dataset.from_npy(data)


def rows_load_npy(data: bytes, ctx: Seeds) -> object:
    return load_npy(data, "rows")


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


_DATATYPES = ("BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64")
_DATATYPES += ("FP16", "FP32", "FP64", "BYTES", "", "fp32")


def tensor_from_raw(data: bytes, ctx: Seeds) -> object:
    """NamedTensor.from_raw over a datatype, a shape of signed 64-bit dimensions (any rank up
    to 72) and the rest as contents, all taken from the input."""
    if len(data) < 2:
        return None
    datatype = _DATATYPES[data[0] % len(_DATATYPES)]
    rank = data[1] % 73
    body = data[2:]
    shape = [
        int.from_bytes(body[8 * i : 8 * i + 8].ljust(8, b"\0"), "little", signed=True) % (1 << 64)
        if data[0] & 0x80
        else int.from_bytes(body[8 * i : 8 * i + 8].ljust(8, b"\0"), "little", signed=True)
        for i in range(rank)
    ]
    if data[0] & 0x40:  # small dimensions, so that contents can match
        shape = [d % 5 for d in shape]
    return NamedTensor.from_raw("t", datatype, shape, body[8 * rank :])


def oip_decode_request(data: bytes, ctx: Seeds) -> object:
    """decode_tensors over whatever a ModelInferRequest on the wire decodes to (the protobuf
    decoding itself is protobuf's; bytes it refuses are skipped by the caller)."""
    request = oip.ModelInferRequest()
    try:
        request.ParseFromString(data)
    except Exception:  # protobuf's DecodeError: not the codec's concern
        return None
    return decode_tensors(request.inputs, request.raw_input_contents)


ENTRY_POINTS: tuple[EntryPoint, ...] = (
    EntryPoint(
        "documents",
        ("card", "settings", "certificate", "manifest", "retrieval_result"),
        documents_layer,
        (DocumentError,),
        "zkgate.core.documents",
    ),
    EntryPoint(
        "tensor_raw", ("tensor_raw",), tensor_from_raw, (TensorError,), "zkgate.core.tensors"
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
    EntryPoint(
        "certificate",
        ("certificate",),
        certificate_from_json,
        (AccuracyFormatError,),
        "zkgate.core.protocols.accuracy",
    ),
    EntryPoint(
        "verify_accuracy",
        ("certificate",),
        verify_mutated_certificate,
        (AccuracyFormatError, AccuracyError),
        "zkgate.client.protocols.accuracy.verification",
    ),
    EntryPoint(
        "verify_accuracy_card",
        ("batch_card",),
        verify_accuracy_mutated_card,
        (BundleError, AccuracyError),
        "zkgate.client.protocols.accuracy.verification",
    ),
    EntryPoint(
        "contest_statement",
        ("contest_statement",),
        _statement(ContestStatement),
        (AttestationError,),
        "zkgate.core.protocols.contest + zkgate.core.attestations",
    ),
    EntryPoint(
        "accuracy_statement",
        ("accuracy_statement",),
        _statement(AccuracyStatement),
        (AttestationError,),
        "zkgate.core.protocols.accuracy + zkgate.core.attestations",
    ),
    EntryPoint(
        "dataset_statement",
        ("dataset_statement",),
        _statement(DatasetStatement),
        (AttestationError,),
        "zkgate.core.protocols.retrieval + zkgate.core.attestations",
    ),
    EntryPoint(
        "retrieval_statement",
        ("retrieval_statement",),
        _statement(RetrievalStatement),
        (AttestationError,),
        "zkgate.core.protocols.retrieval + zkgate.core.attestations",
    ),
    EntryPoint(
        "training_intent",
        ("training_intent",),
        _statement(TrainingIntent),
        (AttestationError,),
        "zkgate.core.attestations",
    ),
    EntryPoint(
        "commitment_timestamp",
        ("commitment_timestamp",),
        _statement(CommitmentTimestamp),
        (AttestationError,),
        "zkgate.core.attestations",
    ),
    EntryPoint(
        "evidence",
        ("evidence",),
        evidence_from_json,
        (EvidenceError,),
        "zkgate.client.protocols.contest.evidence",
    ),
    EntryPoint(
        "check_evidence",
        ("evidence",),
        check_mutated_evidence,
        (EvidenceError,),
        "zkgate.client.protocols.contest.evidence",
    ),
    EntryPoint(
        "retrieval_result",
        ("retrieval_result",),
        retrieval_result_from_json,
        (RetrievalFormatError,),
        "zkgate.core.protocols.retrieval",
    ),
    EntryPoint(
        "verify_retrieval",
        ("retrieval_result",),
        verify_mutated_retrieval_result,
        (RetrievalFormatError, RetrievalError),
        "zkgate.client.protocols.retrieval.verification",
    ),
    EntryPoint(
        "verify_retrieval_dataset",
        ("dataset_statement",),
        verify_retrieval_mutated_dataset,
        (AttestationError, RetrievalError),
        "zkgate.client.protocols.retrieval.verification",
    ),
    EntryPoint(
        "learning_archive",
        ("learning_archive",),
        archive_check,
        (ArchiveError,),
        "zkgate.core.learning.archive",
    ),
    EntryPoint(
        "pol_manifest",
        ("manifest",),
        manifest_from_json,
        # Manifest.from_json lets the intent's and the policy's own errors through, by design.
        (ManifestError, AttestationError, PolicyError),
        "zkgate.core.learning.manifest",
    ),
    EntryPoint(
        "pol_policy", ("policy",), policy_from_json, (PolicyError,), "zkgate.core.learning.policy"
    ),
    EntryPoint(
        "test_set_examples_npy",
        ("npy_examples", "npy_test_inputs", "npy_zip"),
        test_set_from_npy,
        (TestSetError,),
        "zkgate.core.held_out_set + zkgate.core.array_rows",
    ),
    EntryPoint(
        "test_set_labels_npy",
        ("npy_labels", "npy_test_labels"),
        test_set_labels_from_npy,
        (TestSetError,),
        "zkgate.core.held_out_set + zkgate.core.array_rows",
    ),
    EntryPoint(
        "dataset_npy",
        ("npy_records", "npy_calibration", "npy_zip"),
        dataset_from_npy,
        (RowsError,),
        "zkgate.core.dataset + zkgate.core.array_rows",
    ),
    EntryPoint(
        "load_npy",
        ("npy_calibration", "npy_test_labels", "npy_zip"),
        rows_load_npy,
        (RowsError,),
        "zkgate.core.array_rows",
    ),
    EntryPoint(
        "oip_decode",
        ("oip_request", "oip_request_typed"),
        oip_decode_request,
        (TensorError,),
        "zkgate.core.oip_codec + zkgate.core.tensors",
    ),
)


BY_NAME = {entry.name: entry for entry in ENTRY_POINTS}
