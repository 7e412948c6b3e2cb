"""Open Inference Protocol v2 servicer: decode, call the gateway service, encode.

Served on the spec's path `/inference.GRPCInferenceService/<Method>` through a generic handler,
because the messages are compiled under zkgate's own protobuf package (see the .proto for why).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import grpc
from google.protobuf.message import Message

from zkgate.core.oip_codec import decode_tensors, encode_output
from zkgate.gateway import oip_answers
from zkgate.gateway.service import GatewayService
from zkgate.gateway.servicers.oip_parameters import read_bool
from zkgate.gateway.servicers.status_codes import grpc_errors
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
        return oip.ModelReadyResponse(
            ready=oip_answers.model_ready(self._service, request.name, request.version)
        )

    async def ServerMetadata(
        self, request: oip.ServerMetadataRequest, context: _Context
    ) -> oip.ServerMetadataResponse:
        return oip.ServerMetadataResponse(**oip_answers.server_metadata())  # type: ignore[arg-type]

    @grpc_errors
    async def ModelMetadata(
        self, request: oip.ModelMetadataRequest, context: _Context
    ) -> oip.ModelMetadataResponse:
        metadata = oip_answers.model_metadata(self._service, request.name, request.version)
        tensor = oip.ModelMetadataResponse.TensorMetadata
        return oip.ModelMetadataResponse(
            name=metadata.name,
            versions=metadata.versions,
            platform=oip_answers.PLATFORM,
            inputs=[tensor(**asdict(t)) for t in metadata.inputs],
            outputs=[tensor(**asdict(t)) for t in metadata.outputs],
        )

    @grpc_errors
    async def ModelInfer(
        self, request: oip.ModelInferRequest, context: _Context
    ) -> oip.ModelInferResponse:
        served = await oip_answers.serve_inference(
            self._service,
            request.model_name,
            decode_tensors(request.inputs, request.raw_input_contents),
            request_id=request.id,
            prove=read_bool(request.parameters, oip_answers.PROVE),
            version=request.model_version,
        )
        response = oip.ModelInferResponse(
            model_name=served.result.model.name,
            model_version=served.result.model.commitment or "",
            id=request.id,
        )
        for tensor in served.outputs([o.name for o in request.outputs]):
            encode_output(response, tensor)
        for key, value in served.parameters().items():
            response.parameters[key].string_param = value
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
