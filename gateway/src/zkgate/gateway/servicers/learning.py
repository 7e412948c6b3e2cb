"""zkgate.v1.LearningService: training intents, commitment timestamps and learning reports."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from zkgate.gateway.protocols.learning import LearningAttestor, LearningReports
from zkgate.gateway.servicers.status_codes import grpc_errors
from zkgate.wire import zkgate_pb2 as pb
from zkgate.wire import zkgate_pb2_grpc

_Context = grpc.aio.ServicerContext[Any, Any]


class LearningServicer(zkgate_pb2_grpc.LearningServiceServicer):
    def __init__(self, attestor: LearningAttestor, reports: LearningReports) -> None:
        self._attestor = attestor
        self._reports = reports

    @grpc_errors
    async def IssueTrainingIntent(
        self, request: pb.IssueTrainingIntentRequest, context: _Context
    ) -> pb.SignedStatement:
        # Keeping the policy is a database write: off the event loop.
        intent = await asyncio.to_thread(
            self._attestor.issue_intent,
            request.owner_public_key,
            request.policy_digest,
            request.policy_json,
        )
        return pb.SignedStatement(statement_json=intent.to_json())

    @grpc_errors
    async def TimestampCommitment(
        self, request: pb.TimestampCommitmentRequest, context: _Context
    ) -> pb.SignedStatement:
        timestamp = self._attestor.timestamp(
            request.owner_public_key, request.commitment, request.request_signature
        )
        return pb.SignedStatement(statement_json=timestamp.to_json())

    @grpc_errors
    async def GetLearningReport(
        self, request: pb.GetLearningReportRequest, context: _Context
    ) -> pb.LearningReport:
        # Reading and rehashing the report touches disk: keep it off the event loop.
        report = await asyncio.to_thread(self._reports.report, request.name)
        return pb.LearningReport(report_json=report.report_json, report_digest=report.digest)
