"""Reading zkgate's parameters from the gRPC half of the OIP, where each is a typed oneof."""

from __future__ import annotations

from collections.abc import Mapping

from zkgate.gateway.oip_answers import flag
from zkgate.wire import open_inference_pb2 as oip


def read_bool(parameters: Mapping[str, oip.InferParameter], name: str) -> bool:
    """A flag among a request's typed parameters (see oip_answers.flag); absent is false."""
    if name not in parameters:
        return False
    value = parameters[name]
    kind = value.WhichOneof("parameter_choice")
    return flag(name, None if kind is None else getattr(value, kind))
