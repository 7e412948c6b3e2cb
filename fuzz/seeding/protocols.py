"""Seed documents of the verifiable protocols: a contest and its evidence, an accuracy statement
and a certificate carrying the real batch proof, a dataset, a retrieval statement and a result
carrying the real proof; all signed by the gateway's key."""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fuzz.seeding.batch_circuit import BatchCircuit
from fuzz.seeding.shared import CLIENT_NONCE, NOW_MS, sha256_hex
from zkgate.client.protocols.contest.evidence import EvidenceBundle, Failure, FailureKind
from zkgate.core.bundle import VerifierBundle
from zkgate.core.dataset import Dataset
from zkgate.core.held_out_set import TestSet
from zkgate.core.merkle import inclusion_proof
from zkgate.core.prediction import Prediction
from zkgate.core.protocols.accuracy import (
    AccuracyCertificate,
    AccuracyRequest,
    CertificateEntry,
    accuracy_sample,
    issue_accuracy_statement,
)
from zkgate.core.protocols.contest import (
    ContestRequest,
    issue_contest_statement,
    nonce_commitment,
    receipt_set_digest,
)
from zkgate.core.protocols.retrieval import (
    RetrievalRequest,
    RetrievalResult,
    RetrievedRecord,
    issue_dataset_statement,
    issue_retrieval_statement,
    retrieval_sample,
)


def contest_documents(key: Ed25519PrivateKey, prediction: Prediction) -> dict[str, bytes]:
    """A contest of one receipt, sampled, and the evidence of a refusal to answer it."""
    receipts = [prediction.receipt]
    contest = issue_contest_statement(
        key,
        ContestRequest(
            receipt_set_digest=receipt_set_digest(receipts),
            receipt_count=1,
            client_nonce_sha256=nonce_commitment(CLIENT_NONCE),
            sample_size=1,
            deadline_ms=60_000,
        ),
        now_ms=NOW_MS,
    )
    evidence = EvidenceBundle(
        statement=contest,
        client_nonce=CLIENT_NONCE,
        receipts=receipts,
        prediction=prediction,
        failure=Failure(
            kind=FailureKind.REFUSED,
            at_ms=NOW_MS + 10,
            code="NOT_FOUND",
            message="no such receipt",
        ),
    )
    return {
        "contest_statement": contest.to_json().encode(),
        "evidence": evidence.to_json().encode(),
    }


def proven_examples(prediction: Prediction) -> np.ndarray:
    """A small test set's examples of the circuit's input shape, every one the proven input: so
    whichever are sampled, the batch proof is theirs."""
    return np.stack([prediction.inputs[0].array.astype(np.float32)] * 6)


def accuracy_documents(
    key: Ed25519PrivateKey,
    bundle: VerifierBundle,
    batch: BatchCircuit,
    prediction: Prediction,
    test_set: TestSet,
) -> dict[str, bytes]:
    """An accuracy statement over `test_set` and a certificate of it."""
    predicted = int(np.argmax(prediction.outputs[0].array))
    statement = issue_accuracy_statement(
        key,
        AccuracyRequest(
            model=bundle.card.name,
            commitment=bundle.commitment(),
            batch_commitment=batch.bundle.commitment(),
            test_set_commitment=test_set.commitment(),
            test_set_size=len(test_set),
            sample_size=2,
            delta="0.05",
            client_nonce_sha256=nonce_commitment(CLIENT_NONCE),
        ),
        now_ms=NOW_MS,
    )
    batch_digest = sha256_hex(batch.proof)
    sample = accuracy_sample(statement, CLIENT_NONCE)
    certificate = AccuracyCertificate(
        statement=statement,
        client_nonce=CLIENT_NONCE.hex(),
        correct=sum(int(test_set.labels[index]) == predicted for index in sample),
        entries=[
            CertificateEntry(
                test_index=index,
                label=int(test_set.labels[index]),
                predicted=predicted,
                proof_digest=batch_digest,
                batch_index=0,
                batch_size=1,
                outputs=batch.outputs,
            )
            for index in sample
        ],
        proofs={batch_digest: batch.proof.decode()},
    )
    return {
        "accuracy_statement": statement.to_json().encode(),
        "certificate": certificate.to_json().encode(),
    }


def records_of(bundle: VerifierBundle) -> Dataset:
    """A dataset of five records of the circuit's input shape."""
    input_shape = tuple(bundle.card.inputs[0].shape)
    rng = np.random.default_rng(0)
    return Dataset.from_array(rng.random((5, *input_shape[1:]), dtype=np.float32))


def retrieval_documents(
    key: Ed25519PrivateKey, bundle: VerifierBundle, proof: bytes, dataset: Dataset
) -> dict[str, bytes]:
    """The dataset's statement, a retrieval whose answer is record 1, and its result."""
    dataset_statement = issue_dataset_statement(key, "fuzz-records", dataset, now_ms=NOW_MS)
    retrieval = issue_retrieval_statement(
        key,
        RetrievalRequest(
            dataset_root=dataset_statement.root,
            dataset_size=dataset_statement.size,
            predicate_model=bundle.card.name,
            predicate_commitment=bundle.commitment(),
            sample_size=2,
            client_nonce_sha256=nonce_commitment(CLIENT_NONCE),
        ),
        [1],
        now_ms=NOW_MS,
    )
    leaves = dataset.leaves()
    proof_digest = sha256_hex(proof)
    returned = [1, *retrieval_sample(retrieval, CLIENT_NONCE)]
    result = RetrievalResult(
        statement=retrieval,
        client_nonce=CLIENT_NONCE.hex(),
        records=[
            RetrievedRecord(
                index=index,
                matched=index == 1,
                data=dataset.records[index].astype("<f4").tobytes().hex(),
                path=[h.hex() for h in inclusion_proof(leaves, index).path],
                proof_digest=proof_digest,
            )
            for index in returned
        ],
        proofs={proof_digest: proof.decode()},
    )
    return {
        "dataset_statement": dataset_statement.to_json().encode(),
        "retrieval_statement": retrieval.to_json().encode(),
        "retrieval_result": result.to_json().encode(),
    }
