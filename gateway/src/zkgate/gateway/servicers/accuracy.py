"""zkgate.v1.AccuracyService: open an evaluation, reveal the test set, fetch the certificate."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from zkgate.core.protocols.accuracy import AccuracyRequest
from zkgate.gateway.access_control import current_tenant
from zkgate.gateway.protocols.accuracy import AccuracyEvaluator, EvaluationProgress, parse_test_set
from zkgate.gateway.servicers.status_codes import grpc_errors
from zkgate.wire import zkgate_pb2 as pb
from zkgate.wire import zkgate_pb2_grpc

_Context = grpc.aio.ServicerContext[Any, Any]


def _evaluation_message(progress: EvaluationProgress) -> pb.Evaluation:
    certificate = progress.certificate
    return pb.Evaluation(
        evaluation_id=progress.evaluation_id,
        job_ids=progress.jobs.job_ids,
        proven=len(progress.jobs.proven),
        failed=progress.jobs.failed,
        certificate_json=certificate.to_json() if certificate is not None else "",
    )


class AccuracyServicer(zkgate_pb2_grpc.AccuracyServiceServicer):
    def __init__(self, evaluator: AccuracyEvaluator) -> None:
        self._evaluator = evaluator

    @grpc_errors
    async def OpenEvaluation(
        self, request: pb.OpenEvaluationRequest, context: _Context
    ) -> pb.SignedStatement:
        statement = self._evaluator.open(
            AccuracyRequest(
                model=request.model,
                commitment=request.commitment,
                batch_commitment=request.batch_commitment,
                test_set_commitment=request.test_set_commitment,
                test_set_size=request.test_set_size,
                sample_size=request.sample_size,
                delta=request.delta,
                client_nonce_sha256=request.client_nonce_sha256,
            ),
            current_tenant.get(),
        )
        return pb.SignedStatement(statement_json=statement.to_json())

    @grpc_errors
    async def RevealTestSet(
        self, request: pb.RevealTestSetRequest, context: _Context
    ) -> pb.Evaluation:
        tenant = current_tenant.get()
        # Hashing the set and queueing a job per sampled example take a while: off the loop.
        test_set = await asyncio.to_thread(parse_test_set, request.examples, request.labels)
        progress = await asyncio.to_thread(
            self._evaluator.reveal,
            request.statement_json,
            request.client_nonce,
            test_set,
            tenant,
        )
        return _evaluation_message(progress)

    @grpc_errors
    async def GetEvaluation(
        self, request: pb.GetEvaluationRequest, context: _Context
    ) -> pb.Evaluation:
        progress = await asyncio.to_thread(
            self._evaluator.progress, request.evaluation_id, current_tenant.get()
        )
        return _evaluation_message(progress)
