"""Reading zkgate's parameters from the gRPC half of the OIP, where each is a typed oneof."""

from __future__ import annotations

from collections.abc import Mapping

from zkgate.gateway.errors import InvalidRequest
from zkgate.wire import open_inference_pb2 as oip


def read_bool(parameters: Mapping[str, oip.InferParameter], name: str) -> bool:
    """A flag given as a bool, or as the strings true/false for clients that only send strings."""
    if name not in parameters:
        return False
    value = parameters[name]
    kind = value.WhichOneof("parameter_choice")
    if kind == "bool_param":
        return value.bool_param
    if kind == "string_param" and value.string_param.lower() in ("true", "false"):
        return value.string_param.lower() == "true"
    raise InvalidRequest(f"parameter {name!r} must be a bool (or the string 'true'/'false')")
