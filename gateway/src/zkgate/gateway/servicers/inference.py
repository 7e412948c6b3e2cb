"""Open Inference Protocol v2 servicer: decode, call the gateway service, encode.

Served on the spec's path `/inference.GRPCInferenceService/<Method>` through a generic handler,
because the messages are compiled under zkgate's own protobuf package (see the .proto for why).
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from google.protobuf.message import Message

from zkgate.core.oip_codec import decode_tensors, encode_output
from zkgate.gateway import __version__
from zkgate.gateway.access_control import current_tenant
from zkgate.gateway.service import GatewayService
from zkgate.gateway.servicers import oip_parameters
from zkgate.gateway.servicers.status_codes import grpc_errors
from zkgate.prover.queue.catalog import ModelState
from zkgate.wire import open_inference_pb2 as oip

OIP_SERVICE = "inference.GRPCInferenceService"
_Context = grpc.aio.ServicerContext[Any, Any]


class InferenceServicer:
    def __init__(self, service: GatewayService) -> None:
        self._service = service

    async def ServerLive(
        self, request: oip.ServerLiveRequest, context: _Context
    ) -> oip.ServerLiveResponse:
        return oip.ServerLiveResponse(live=True)

    async def ServerReady(
        self, request: oip.ServerReadyRequest, context: _Context
    ) -> oip.ServerReadyResponse:
        return oip.ServerReadyResponse(ready=True)

    @grpc_errors
    async def ModelReady(
        self, request: oip.ModelReadyRequest, context: _Context
    ) -> oip.ModelReadyResponse:
        record = self._service.get_model(request.name)
        return oip.ModelReadyResponse(ready=record.state == ModelState.READY)

    async def ServerMetadata(
        self, request: oip.ServerMetadataRequest, context: _Context
    ) -> oip.ServerMetadataResponse:
        return oip.ServerMetadataResponse(
            name="zkgate", version=__version__, extensions=["zkgate-receipts", "zkgate-proofs"]
        )

    @grpc_errors
    async def ModelMetadata(
        self, request: oip.ModelMetadataRequest, context: _Context
    ) -> oip.ModelMetadataResponse:
        record, model = self._service.loaded_model(request.name)
        meta = oip.ModelMetadataResponse.TensorMetadata
        return oip.ModelMetadataResponse(
            name=record.name,
            versions=[record.commitment or ""],
            platform="onnx",
            inputs=[meta(name=s.name, datatype=s.datatype, shape=s.shape) for s in model.inputs],
            outputs=[meta(name=s.name, datatype=s.datatype, shape=s.shape) for s in model.outputs],
        )

    @grpc_errors
    async def ModelInfer(
        self, request: oip.ModelInferRequest, context: _Context
    ) -> oip.ModelInferResponse:
        tensors = decode_tensors(request.inputs, request.raw_input_contents)
        result = self._service.infer(
            request.model_name,
            tensors,
            request_id=request.id,
            prove=oip_parameters.read_bool(request.parameters, oip_parameters.PROVE),
        )
        job = (
            await asyncio.to_thread(self._service.enqueue_proof, result, current_tenant.get())
            if result.proof_wanted
            else None
        )
        response = oip.ModelInferResponse(
            model_name=result.model.name,
            model_version=result.model.commitment or "",
            id=request.id,
        )
        wanted = {o.name for o in request.outputs}
        for tensor in result.outputs:
            if not wanted or tensor.name in wanted:
                encode_output(response, tensor)
        params = response.parameters
        params[oip_parameters.RECEIPT].string_param = result.receipt.to_json()
        params[oip_parameters.COMMITMENT].string_param = result.receipt.body.commitment
        params[oip_parameters.REQUEST_ID].string_param = result.receipt.body.request_id
        if job is not None:
            params[oip_parameters.PROOF_JOB].string_param = job.id
        return response


def inference_handler(servicer: InferenceServicer) -> grpc.GenericRpcHandler:
    """Method handlers for the spec's service name, built from our own message classes."""
    methods: dict[str, tuple[type[Message], type[Message]]] = {
        "ServerLive": (oip.ServerLiveRequest, oip.ServerLiveResponse),
        "ServerReady": (oip.ServerReadyRequest, oip.ServerReadyResponse),
        "ModelReady": (oip.ModelReadyRequest, oip.ModelReadyResponse),
        "ServerMetadata": (oip.ServerMetadataRequest, oip.ServerMetadataResponse),
        "ModelMetadata": (oip.ModelMetadataRequest, oip.ModelMetadataResponse),
        "ModelInfer": (oip.ModelInferRequest, oip.ModelInferResponse),
    }
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name),
            request_deserializer=request.FromString,
            response_serializer=response.SerializeToString,
        )
        for name, (request, response) in methods.items()
    }
    return grpc.method_handlers_generic_handler(OIP_SERVICE, handlers)
