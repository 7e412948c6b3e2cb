"""Entry points of the verifiable protocols: accuracy certificates, contests and their evidence,
trustless retrieval; each protocol's signed statements, documents and verification."""

from __future__ import annotations

import json

from fuzz.entries.entry import EntryPoint, bundle_with, signed_statement, text
from fuzz.seeds import Seeds
from zkgate.client.protocols.accuracy.verification import AccuracyError, verify_accuracy
from zkgate.client.protocols.contest.evidence import EvidenceBundle, EvidenceError, check_evidence
from zkgate.client.protocols.retrieval.verification import RetrievalError, verify_retrieval
from zkgate.core.attestations import AttestationError
from zkgate.core.bundle import BundleError, VerifierBundle
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
    return _verify_accuracy(certificate, ctx, bundle_with(ctx, batch=True, card_json=text(data)))


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


PROTOCOL_ENTRIES: tuple[EntryPoint, ...] = (
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
        signed_statement(ContestStatement),
        (AttestationError,),
        "zkgate.core.protocols.contest + zkgate.core.attestations",
    ),
    EntryPoint(
        "accuracy_statement",
        ("accuracy_statement",),
        signed_statement(AccuracyStatement),
        (AttestationError,),
        "zkgate.core.protocols.accuracy + zkgate.core.attestations",
    ),
    EntryPoint(
        "dataset_statement",
        ("dataset_statement",),
        signed_statement(DatasetStatement),
        (AttestationError,),
        "zkgate.core.protocols.retrieval + zkgate.core.attestations",
    ),
    EntryPoint(
        "retrieval_statement",
        ("retrieval_statement",),
        signed_statement(RetrievalStatement),
        (AttestationError,),
        "zkgate.core.protocols.retrieval + zkgate.core.attestations",
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
)
