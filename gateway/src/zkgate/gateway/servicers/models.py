"""zkgate.v1.ModelService: registration, the catalogue, and verifier downloads."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from zkgate.core.ezkl_version import INSTALLED_EZKL_VERSION
from zkgate.gateway import __version__
from zkgate.gateway.access_control import current_tenant
from zkgate.gateway.service import GatewayService, Registration
from zkgate.gateway.servicers.status_codes import grpc_errors
from zkgate.prover.queue.catalog import ModelRecord, ModelState, ProofPolicy
from zkgate.wire import zkgate_pb2 as pb
from zkgate.wire import zkgate_pb2_grpc

_Context = grpc.aio.ServicerContext[Any, Any]

_POLICY_TO_WIRE = {
    ProofPolicy.ON_REQUEST: pb.PROOF_POLICY_ON_REQUEST,
    ProofPolicy.ALWAYS: pb.PROOF_POLICY_ALWAYS,
    ProofPolicy.NEVER: pb.PROOF_POLICY_NEVER,
}
_POLICY_FROM_WIRE = {wire: policy for policy, wire in _POLICY_TO_WIRE.items()}
_STATE_TO_WIRE = {
    ModelState.REGISTERING: pb.MODEL_STATE_REGISTERING,
    ModelState.READY: pb.MODEL_STATE_READY,
    ModelState.FAILED: pb.MODEL_STATE_FAILED,
}


def model_message(record: ModelRecord) -> pb.Model:
    return pb.Model(
        name=record.name,
        state=_STATE_TO_WIRE[record.state],
        policy=_POLICY_TO_WIRE[record.policy],
        commitment=record.commitment or "",
        error=record.error or "",
        registration_job_id=record.registration_job_id or "",
        card_json=record.card_json or "",
    )


def registration_message(registration: Registration) -> pb.RegisterModelResponse:
    return pb.RegisterModelResponse(
        model=model_message(registration.model), job_id=registration.job.id
    )


class ModelServicer(zkgate_pb2_grpc.ModelServiceServicer):
    def __init__(self, service: GatewayService) -> None:
        self._service = service

    @grpc_errors
    async def RegisterModel(
        self, request: pb.RegisterModelRequest, context: _Context
    ) -> pb.RegisterModelResponse:
        # Storing the upload hashes and fsyncs megabytes: keep it off the event loop.
        registration = await asyncio.to_thread(
            self._service.register_model,
            request.name,
            onnx=request.onnx,
            calibration=request.calibration,
            policy=_POLICY_FROM_WIRE.get(request.policy),
            max_logrows=request.max_logrows or None,
            param_visibility=request.param_visibility,
            srs_path=request.srs_path,
            srs_sha256=request.srs_sha256,
            proof_of_learning=request.proof_of_learning,
            tenant=current_tenant.get(),
            batch_size=request.batch_size,
            fidelity=request.fidelity,
            tuning=request.tuning,
        )
        return registration_message(registration)

    @grpc_errors
    async def ListModels(
        self, request: pb.ListModelsRequest, context: _Context
    ) -> pb.ListModelsResponse:
        models = self._service.list_models(current_tenant.get())
        return pb.ListModelsResponse(models=[model_message(r) for r in models])

    @grpc_errors
    async def GetModel(self, request: pb.GetModelRequest, context: _Context) -> pb.Model:
        return model_message(self._service.get_model(request.name))

    @grpc_errors
    async def GetVerifierBundle(
        self, request: pb.GetVerifierBundleRequest, context: _Context
    ) -> pb.VerifierBundle:
        bundle = await asyncio.to_thread(
            self._service.verifier_bundle, request.name, batch=request.batch
        )
        return pb.VerifierBundle(
            card_json=bundle.card_json,
            verifying_key=bundle.verifying_key,
            settings=bundle.settings,
            srs_slice=bundle.srs_slice,
        )

    async def GetServerIdentity(
        self, request: pb.GetServerIdentityRequest, context: _Context
    ) -> pb.ServerIdentity:
        return pb.ServerIdentity(
            receipt_public_key=self._service.receipt_public_key.hex(),
            server_version=__version__,
            ezkl_version=INSTALLED_EZKL_VERSION,
        )
