"""The Client's calls for verified accuracy: running an evaluation to its certificate, and
checking a certificate under the batch circuit's bundle the gateway serves."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict

from zkgate.client.models import ModelCalls
from zkgate.client.proof_jobs import ProofCalls
from zkgate.client.protocols.accuracy.verification import VerifiedAccuracy, verify_accuracy
from zkgate.core.attestations import require_signed_before_reveal
from zkgate.core.held_out_set import TestSet
from zkgate.core.protocols.accuracy import (
    AccuracyCertificate,
    AccuracyRequest,
    AccuracyStatement,
    hoeffding_sample_size,
)
from zkgate.core.protocols.contest import new_client_nonce, nonce_commitment
from zkgate.core.protocols.limits import DEFAULT_DELTA, DEFAULT_EPSILON
from zkgate.wire import zkgate_pb2 as pb


class AccuracyCalls(ProofCalls, ModelCalls):
    def evaluate_accuracy(
        self,
        model: str,
        test_set: TestSet,
        *,
        pinned_commitment: str,
        pinned_batch_commitment: str,
        epsilon: float = DEFAULT_EPSILON,
        delta: float = DEFAULT_DELTA,
        sample_size: int | None = None,
        timeout: float = 3600.0,
    ) -> AccuracyCertificate:
        """Runs an evaluation to its certificate: commit to the test set and a nonce, have the
        gateway sign the model commitment it serves, reveal, wait for the sampled proofs. The
        sample is Hoeffding's n for (epsilon, delta) unless given, at most the set's size. The
        certificate is the provider's claim: check it with `verify_accuracy`."""
        nonce = new_client_nonce()
        request = AccuracyRequest(
            model=model,
            commitment=pinned_commitment.lower(),
            batch_commitment=pinned_batch_commitment.lower(),
            test_set_commitment=test_set.commitment(),
            test_set_size=len(test_set),
            sample_size=sample_size or min(hoeffding_sample_size(epsilon, delta), len(test_set)),
            delta=repr(float(delta)),
            client_nonce_sha256=nonce_commitment(nonce),
        )
        request.check()  # before the call: a sample the set cannot hold is the caller's error
        response: pb.SignedStatement = self._accuracy.OpenEvaluation(
            pb.OpenEvaluationRequest(**asdict(request)), timeout=self._timeout
        )
        statement = AccuracyStatement.from_json(response.statement_json)
        self._check_statement(statement, **asdict(request))
        examples, labels = test_set.to_npy()
        evaluation: pb.Evaluation = self._accuracy.RevealTestSet(
            pb.RevealTestSetRequest(
                statement_json=response.statement_json,
                client_nonce=nonce.hex(),
                examples=examples,
                labels=labels,
            ),
            timeout=self._storing_call_timeout,
        )
        for job_id in evaluation.job_ids:
            self.wait_for_job(job_id, timeout=timeout)
        evaluation = self._accuracy.GetEvaluation(
            pb.GetEvaluationRequest(evaluation_id=evaluation.evaluation_id), timeout=self._timeout
        )
        certificate = AccuracyCertificate.from_json(evaluation.certificate_json)
        require_signed_before_reveal(statement, certificate.statement, "certificate")
        return certificate

    def verify_accuracy(
        self,
        certificate: AccuracyCertificate,
        test_set: TestSet,
        *,
        pinned_commitment: str,
        pinned_batch_commitment: str,
        gateway_public_key: bytes | None = None,
        allow_insecure_srs: bool = False,
        trusted_srs_identities: Collection[str] = (),
    ) -> VerifiedAccuracy:
        """Fetches the batch circuit's bundle and checks the certificate locally; see
        `protocols.accuracy.verification.verify_accuracy`."""
        return verify_accuracy(
            certificate,
            test_set,
            self.bundle(certificate.statement.model, batch=True),
            pinned_commitment=pinned_commitment,
            pinned_batch_commitment=pinned_batch_commitment,
            gateway_public_key=gateway_public_key or self.gateway_key(),
            allow_insecure_srs=allow_insecure_srs,
            trusted_srs_identities=trusted_srs_identities,
        )
