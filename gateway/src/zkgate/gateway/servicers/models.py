"""zkgate.v1.ModelService: registration, the catalogue, and verifier downloads."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc

from zkgate.core.ezkl_version import INSTALLED_EZKL_VERSION
from zkgate.gateway import __version__
from zkgate.gateway.access_control import current_tenant
from zkgate.gateway.errors import FailedPrecondition
from zkgate.gateway.model_repository import ModelRepository
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


def model_message(record: ModelRecord, versions: Sequence[ModelRecord] = ()) -> pb.Model:
    """One version; `versions`, when given, all of the model's."""
    return pb.Model(
        name=record.name,
        state=_STATE_TO_WIRE[record.state],
        policy=_POLICY_TO_WIRE[record.policy],
        commitment=record.commitment or "",
        error=record.error or "",
        registration_job_id=record.registration_job_id or "",
        card_json=record.card_json or "",
        version=record.version,
        is_default=record.is_default,
        pinned=record.pinned,
        versions=[model_message(v) for v in versions],
    )


def models_message(records: Sequence[ModelRecord]) -> list[pb.Model]:
    """One entry per model (its default version, else its newest) holding all its versions;
    records come grouped by name, oldest version first (ModelCatalog.list)."""
    by_name: dict[str, list[ModelRecord]] = {}
    for record in records:
        by_name.setdefault(record.name, []).append(record)
    return [
        model_message(next((v for v in versions if v.is_default), versions[-1]), versions)
        for versions in by_name.values()
    ]


def registration_message(registration: Registration) -> pb.RegisterModelResponse:
    return pb.RegisterModelResponse(
        model=model_message(registration.model), job_id=registration.job.id
    )


class ModelServicer(zkgate_pb2_grpc.ModelServiceServicer):
    def __init__(self, service: GatewayService, repository: ModelRepository | None = None) -> None:
        """repository: the gateway's model repository, if it was started with one."""
        self._service = service
        self._repository = repository

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
        return pb.ListModelsResponse(models=models_message(models))

    @grpc_errors
    async def GetModel(self, request: pb.GetModelRequest, context: _Context) -> pb.Model:
        record = self._service.get_model(request.name, request.version)
        return model_message(record, self._service.model_versions(request.name))

    @grpc_errors
    async def RemoveModel(
        self, request: pb.RemoveModelRequest, context: _Context
    ) -> pb.RemoveModelResponse:
        # The sweep deletes files (gigabytes of keys, or S3 calls): off the event loop.
        result = await asyncio.to_thread(
            self._service.remove_model, request.name, request.version, current_tenant.get()
        )
        return pb.RemoveModelResponse(
            removed=[model_message(r) for r in result.removal.removed],
            failed_job_ids=result.removal.failed_jobs,
            artifacts_deleted=result.sweep.deleted,
            bytes_freed=result.sweep.freed_bytes,
            sweep_waiting=result.sweep.waiting,
        )

    @grpc_errors
    async def SetDefaultVersion(
        self, request: pb.SetDefaultVersionRequest, context: _Context
    ) -> pb.Model:
        record = await asyncio.to_thread(
            self._service.set_default_version,
            request.name,
            request.version,
            current_tenant.get(),
        )
        return model_message(record, self._service.model_versions(request.name))

    @grpc_errors
    async def SyncModelRepository(
        self, request: pb.SyncModelRepositoryRequest, context: _Context
    ) -> pb.SyncModelRepositoryResponse:
        if self._repository is None:
            raise FailedPrecondition(
                "this gateway has no model repository; start it with --model-repository DIR "
                "(or ZKGATE_MODEL_REPOSITORY)"
            )
        entries = await asyncio.to_thread(self._repository.sync, current_tenant.get())
        return pb.SyncModelRepositoryResponse(
            entries=[
                pb.RepositoryEntry(
                    name=e.name,
                    action=e.action.value,
                    version=e.version,
                    job_id=e.job_id,
                    error=e.error,
                )
                for e in entries
            ]
        )

    @grpc_errors
    async def GetVerifierBundle(
        self, request: pb.GetVerifierBundleRequest, context: _Context
    ) -> pb.VerifierBundle:
        bundle = await asyncio.to_thread(
            self._service.verifier_bundle,
            request.name,
            batch=request.batch,
            version=request.version,
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
