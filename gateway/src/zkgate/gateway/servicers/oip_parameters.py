"""Names of the OIP request and response parameters zkgate reads and writes."""

from __future__ import annotations

from collections.abc import Mapping

from zkgate.gateway.errors import InvalidRequest
from zkgate.wire import open_inference_pb2 as oip

PROVE = "zkgate.prove"
RECEIPT = "zkgate.receipt"
COMMITMENT = "zkgate.commitment"
PROOF_JOB = "zkgate.proof_job"
REQUEST_ID = "zkgate.request_id"
# A request of several rows (a model with a dynamic batch axis): a JSON array per row, in order.
RECEIPTS = "zkgate.receipts"
PROOF_JOBS = "zkgate.proof_jobs"


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
