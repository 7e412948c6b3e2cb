"""zkgate.v1.RetrievalService: commit to datasets, register predicates, answer and prove."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from zkgate.core.protocols.retrieval import RetrievalRequest
from zkgate.gateway.access_control import current_tenant
from zkgate.gateway.protocols.retrieval import (
    CommittedDataset,
    RetrievalProgress,
    RetrievalResponder,
)
from zkgate.gateway.servicers.models import registration_message
from zkgate.gateway.servicers.status_codes import grpc_errors
from zkgate.wire import zkgate_pb2 as pb
from zkgate.wire import zkgate_pb2_grpc

_Context = grpc.aio.ServicerContext[Any, Any]


def _dataset_message(committed: CommittedDataset) -> pb.Dataset:
    return pb.Dataset(dataset_id=committed.dataset_id, statement_json=committed.statement.to_json())


def _retrieval_message(progress: RetrievalProgress) -> pb.Retrieval:
    result = progress.result
    return pb.Retrieval(
        retrieval_id=progress.retrieval_id,
        job_ids=progress.jobs.job_ids,
        proven=len(progress.jobs.proven),
        failed=progress.jobs.failed,
        result_json=result.to_json() if result is not None else "",
    )


class RetrievalServicer(zkgate_pb2_grpc.RetrievalServiceServicer):
    """Every call hashes, reads or runs a model over a dataset: all of them off the loop."""

    def __init__(self, responder: RetrievalResponder) -> None:
        self._responder = responder

    @grpc_errors
    async def CommitDataset(
        self, request: pb.CommitDatasetRequest, context: _Context
    ) -> pb.Dataset:
        committed = await asyncio.to_thread(
            self._responder.commit_dataset, request.name, request.records, current_tenant.get()
        )
        return _dataset_message(committed)

    @grpc_errors
    async def GetDataset(self, request: pb.GetDatasetRequest, context: _Context) -> pb.Dataset:
        return _dataset_message(
            await asyncio.to_thread(self._responder.dataset, request.dataset_id)
        )

    @grpc_errors
    async def RegisterPredicate(
        self, request: pb.RegisterPredicateRequest, context: _Context
    ) -> pb.RegisterModelResponse:
        registration = await asyncio.to_thread(
            self._responder.register_predicate,
            request.dataset_id,
            request.onnx,
            request.scale,
            current_tenant.get(),
        )
        return registration_message(registration)

    @grpc_errors
    async def OpenRetrieval(
        self, request: pb.OpenRetrievalRequest, context: _Context
    ) -> pb.SignedStatement:
        statement = await asyncio.to_thread(
            self._responder.open,
            request.dataset_id,
            RetrievalRequest(
                dataset_root=request.dataset_root,
                dataset_size=request.dataset_size,
                predicate_model=request.predicate_model,
                predicate_commitment=request.predicate_commitment,
                sample_size=request.sample_size,
                client_nonce_sha256=request.client_nonce_sha256,
            ),
            current_tenant.get(),
        )
        return pb.SignedStatement(statement_json=statement.to_json())

    @grpc_errors
    async def RevealRetrievalNonce(
        self, request: pb.RevealRetrievalNonceRequest, context: _Context
    ) -> pb.Retrieval:
        progress = await asyncio.to_thread(
            self._responder.reveal,
            request.dataset_id,
            request.statement_json,
            request.client_nonce,
            current_tenant.get(),
        )
        return _retrieval_message(progress)

    @grpc_errors
    async def GetRetrieval(
        self, request: pb.GetRetrievalRequest, context: _Context
    ) -> pb.Retrieval:
        progress = await asyncio.to_thread(
            self._responder.progress, request.retrieval_id, current_tenant.get()
        )
        return _retrieval_message(progress)
