"""What an Open Inference Protocol call answers, whichever half of the protocol carries it.

The gRPC servicer and the REST routes are both thin: they decode, call these, and encode. So a
request served over either gets the same checks, the same receipts and the same proof jobs, and
the zkgate parameters of a response (receipts, proof jobs, the commitment) are made in one place.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass

from zkgate.core.canonical import canonical_json
from zkgate.core.tensors import NamedTensor
from zkgate.gateway import __version__
from zkgate.gateway.access_control import current_tenant
from zkgate.gateway.errors import InvalidRequest
from zkgate.gateway.served_rows import InferenceResult
from zkgate.gateway.service import GatewayService
from zkgate.prover.queue.catalog import ModelState
from zkgate.prover.queue.jobs import Job

SERVER_NAME = "zkgate"
EXTENSIONS = ("zkgate-receipts", "zkgate-proofs")
PLATFORM = "onnx"

# Request parameter: prove this prediction (a bool, or the strings true/false).
PROVE = "zkgate.prove"
# Response parameters, all strings.
RECEIPT = "zkgate.receipt"
COMMITMENT = "zkgate.commitment"
PROOF_JOB = "zkgate.proof_job"
REQUEST_ID = "zkgate.request_id"
# A request of several rows (a model with a dynamic batch axis): a JSON array per row, in order.
RECEIPTS = "zkgate.receipts"
PROOF_JOBS = "zkgate.proof_jobs"


def flag(name: str, value: object) -> bool:
    """A flag parameter's value: a bool, or the strings true/false for clients that only send
    strings; the same rule on both halves of the protocol."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, bool):
        return value
    raise InvalidRequest(f"parameter {name!r} must be a bool (or the string 'true'/'false')")


@dataclass(frozen=True)
class TensorMetadata:
    name: str
    datatype: str
    shape: list[int]


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    # The version described first, then the others a request may name (by commitment).
    versions: list[str]
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


def model_ready(service: GatewayService, name: str, version: str) -> bool:
    """An unknown model or version raises NotFound: it will never become ready."""
    return service.get_model(name, version).state == ModelState.READY


def model_metadata(service: GatewayService, name: str, version: str) -> ModelMetadata:
    record, model = service.loaded_model(name, version)
    others = [
        v.commitment
        for v in service.model_versions(record.name)
        if v.state == ModelState.READY and v.commitment and v.commitment != record.commitment
    ]
    return ModelMetadata(
        name=record.name,
        versions=[record.commitment or "", *others],
        inputs=[TensorMetadata(s.name, s.datatype, model.served_shape(s)) for s in model.inputs],
        outputs=[TensorMetadata(s.name, s.datatype, model.served_shape(s)) for s in model.outputs],
    )


@dataclass(frozen=True)
class ServedInference:
    result: InferenceResult
    jobs: list[Job]

    def outputs(self, wanted: Sequence[str]) -> list[NamedTensor]:
        """The outputs a request asked for by name; all of them when it named none."""
        return [t for t in self.result.outputs if not wanted or t.name in wanted]

    def parameters(self) -> dict[str, str]:
        """zkgate's response parameters: a request of one row gets its receipt, request id and
        proof job; one of several rows gets a JSON array of each (see zkgate.core.batch_rows)."""
        params = {COMMITMENT: self.result.model.commitment or ""}
        rows = self.result.rows
        if len(rows) == 1:
            params[RECEIPT] = rows[0].receipt.to_json()
            params[REQUEST_ID] = rows[0].receipt.body.request_id
            if self.jobs:
                params[PROOF_JOB] = self.jobs[0].id
            return params
        receipts = [json.loads(row.receipt.to_json()) for row in rows]
        params[RECEIPTS] = canonical_json(receipts).decode()
        if self.jobs:
            params[PROOF_JOBS] = canonical_json([job.id for job in self.jobs]).decode()
        return params


async def serve_inference(
    service: GatewayService,
    name: str,
    tensors: Sequence[NamedTensor],
    *,
    request_id: str,
    prove: bool,
    version: str,
) -> ServedInference:
    """Runs the model and, when a proof is wanted, queues one per row for the calling tenant
    (off the event loop: a queue write takes milliseconds, inference microseconds)."""
    result = service.infer(name, tensors, request_id=request_id, prove=prove, version=version)
    jobs = (
        await asyncio.to_thread(service.enqueue_proofs, result, current_tenant.get())
        if result.proof_wanted
        else []
    )
    return ServedInference(result, jobs)


def server_metadata() -> dict[str, object]:
    return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}
