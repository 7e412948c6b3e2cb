"""The KServe v2 REST routes: decode JSON (or Triton's binary-data extension), call the same
OIP answers the gRPC servicer calls, encode JSON.

Errors are JSON bodies, `{"error": "..."}`, with the HTTP status the spec's servers use for the
kind of mistake (400 for a bad request, 404 for an unknown model or version, 401/403 for access,
429 for a rate or quota, 503 while the database is out of reach); the message is the same one
the gRPC half sends with its status.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict

import grpc
from aiohttp import web
from aiohttp.typedefs import Middleware

from zkgate.core.documents import DocumentError, Fields, parse_object
from zkgate.gateway import oip_answers
from zkgate.gateway.access_control import AccessControl, current_tenant
from zkgate.gateway.errors import InvalidRequest
from zkgate.gateway.rest.json_tensors import (
    BINARY_DATA,
    BINARY_OUTPUT,
    BinaryBody,
    decode_inputs,
    encode_output,
)
from zkgate.gateway.service import GatewayService
from zkgate.gateway.servicers.status_codes import status_for, status_message

log = logging.getLogger("zkgate.gateway.rest")

# Triton's binary-data extension: the JSON header's length, when binary data follows it.
HEADER_LENGTH = "Inference-Header-Content-Length"
_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
}
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# Where json_errors leaves the gRPC status of the same outcome, for the metrics (metrics.py):
# one code label for both halves, so an error ratio over code != OK reads them alike.
GRPC_CODE = web.RequestKey("grpc_code", grpc.StatusCode)
# Refusals aiohttp makes itself, before any handler runs.
_ROUTING_CODES = {
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def _error(request: web.Request, code: grpc.StatusCode, status: int, message: str) -> web.Response:
    request[GRPC_CODE] = code
    return web.json_response({"error": message}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: _Handler) -> web.StreamResponse:
    request[GRPC_CODE] = grpc.StatusCode.OK
    try:
        return await handler(request)
    except web.HTTPException as exc:  # no route, wrong method, a body over the size limit
        code = _ROUTING_CODES.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT)
        return _error(request, code, exc.status, exc.reason)
    except DocumentError as exc:
        return _error(request, grpc.StatusCode.INVALID_ARGUMENT, 400, str(exc))
    except Exception as exc:
        code = status_for(exc)
        if code == grpc.StatusCode.INTERNAL:
            log.exception("unexpected error in REST handler")
            return _error(
                request, code, 500, f"internal error ({type(exc).__name__}); see gateway logs"
            )
        response = _error(request, code, _HTTP_STATUS.get(code, 400), status_message(exc))
        retry_after_ms = getattr(exc, "retry_after_ms", None)
        if retry_after_ms is not None:
            # HTTP's own form of the gRPC half's pushback trailer, in whole seconds.
            response.headers["Retry-After"] = str(max(1, math.ceil(retry_after_ms / 1000)))
        return response


def admit(access: AccessControl) -> Middleware:
    """The same API key and rate check as the gRPC half; health probes pass without a key."""

    @web.middleware
    async def middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
        if request.path.startswith("/v2/health/"):
            return await handler(request)
        tenant = access.admit(list(request.headers.items()), oip_method(request))
        token = current_tenant.set(tenant)
        try:
            return await handler(request)
        finally:
            current_tenant.reset(token)

    return middleware


def _flag(parameters: Fields | None, name: str) -> bool:
    """A flag among a request's (or a requested output's) JSON parameters; absent is false."""
    if parameters is None or name not in parameters:
        return False
    return oip_answers.flag(name, parameters.any(name))


def _split_body(request: web.Request, body: bytes) -> tuple[bytes, BinaryBody]:
    header = request.headers.get(HEADER_LENGTH)
    if header is None:
        return body, BinaryBody(b"")
    if not header.isdigit() or int(header) > len(body):
        raise InvalidRequest(
            f"{HEADER_LENGTH} {header!r} must be a byte count within the {len(body)}-byte body"
        )
    return body[: int(header)], BinaryBody(body[int(header) :])


def oip_method(request: web.Request) -> str:
    """The OIP method a request's route answers (its handler is named after it, as on the gRPC
    half), so access control's read budget and the metrics' labels treat both halves alike;
    empty for a path no route matches."""
    route = request.match_info.route
    return str(getattr(route.handler, "__name__", "")) if route.resource else ""


class RestRoutes:
    def __init__(self, service: GatewayService, serving: Callable[[], bool]) -> None:
        self._service = service
        self._serving = serving

    async def ServerLive(self, request: web.Request) -> web.Response:
        return web.json_response({"live": True})

    async def ServerReady(self, request: web.Request) -> web.Response:
        """Not ready (503) while the gateway starts or drains, as its gRPC health says."""
        ready = self._serving()
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    async def ServerMetadata(self, request: web.Request) -> web.Response:
        return web.json_response(oip_answers.server_metadata())

    async def ModelMetadata(self, request: web.Request) -> web.Response:
        name, version = request.match_info["name"], request.match_info.get("version", "")
        metadata = oip_answers.model_metadata(self._service, name, version)
        return web.json_response({**asdict(metadata), "platform": oip_answers.PLATFORM})

    async def ModelReady(self, request: web.Request) -> web.Response:
        name, version = request.match_info["name"], request.match_info.get("version", "")
        ready = oip_answers.model_ready(self._service, name, version)
        return web.json_response({"name": name, "ready": ready})

    async def ModelInfer(self, request: web.Request) -> web.Response:
        header, binary = _split_body(request, await request.read())
        fields = parse_object(header, what="inference request")
        parameters = fields.optional_object("parameters")
        request_id = fields.optional_text("id") or ""
        served = await oip_answers.serve_inference(
            self._service,
            request.match_info["name"],
            decode_inputs(fields, binary),
            request_id=request_id,
            prove=_flag(parameters, oip_answers.PROVE),
            version=request.match_info.get("version", ""),
        )
        asked = {o.text("name"): o.optional_object("parameters") for o in _outputs(fields)}
        all_binary = _flag(parameters, BINARY_OUTPUT)
        outputs, tail = [], b""
        for tensor in served.outputs(list(asked)):
            entry, raw = encode_output(
                tensor, all_binary or _flag(asked.get(tensor.name), BINARY_DATA)
            )
            outputs.append(entry)
            tail += raw
        document = {
            "model_name": served.result.model.name,
            "model_version": served.result.model.commitment or "",
            "id": request_id,
            "parameters": served.parameters(),
            "outputs": outputs,
        }
        if not tail:
            return web.json_response(document)
        head = json.dumps(document).encode()
        return web.Response(
            body=head + tail,
            content_type="application/octet-stream",
            headers={HEADER_LENGTH: str(len(head))},
        )


def _outputs(fields: Fields) -> list[Fields]:
    return fields.objects("outputs") if "outputs" in fields else []


def rest_app(
    service: GatewayService,
    access: AccessControl,
    max_body_bytes: int,
    *,
    serving: Callable[[], bool],
    observers: Sequence[Middleware] = (),
) -> web.Application:
    """observers run outside the others (metrics: they see the status the caller gets)."""
    routes = RestRoutes(service, serving)
    app = web.Application(
        client_max_size=max_body_bytes,
        middlewares=[*observers, json_errors, admit(access)],
    )
    for model in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        app.router.add_get(model, routes.ModelMetadata)
        app.router.add_get(model + "/ready", routes.ModelReady)
        app.router.add_post(model + "/infer", routes.ModelInfer)
    app.router.add_get("/v2/health/live", routes.ServerLive)
    app.router.add_get("/v2/health/ready", routes.ServerReady)
    app.router.add_get("/v2", routes.ServerMetadata)
    return app
