"""Running registered models in onnxruntime, with inputs checked against the model's signature.

Sessions are cached per model commitment: a model re-registered under the same name gets a fresh
session, and a request can never run weights other than the ones its receipt names.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from zkgate.client.tensors import NamedTensor, TensorError, numpy_dtype, oip_datatype
from zkgate.gateway.errors import InvalidRequest
from zkgate.prover.store import ArtifactStore

_ORT_TYPES = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(float16)": "FP16",
    "tensor(int64)": "INT64",
    "tensor(int32)": "INT32",
    "tensor(int16)": "INT16",
    "tensor(int8)": "INT8",
    "tensor(uint8)": "UINT8",
    "tensor(bool)": "BOOL",
}


@dataclass(frozen=True)
class TensorSignature:
    name: str
    datatype: str
    # None for a symbolic dimension.
    shape: tuple[int | None, ...]

    def check(self, tensor: NamedTensor) -> None:
        if tensor.datatype != self.datatype:
            raise InvalidRequest(
                f"input {self.name!r} must be {self.datatype}, got {tensor.datatype}"
            )
        shape = tensor.shape
        if len(shape) != len(self.shape) or any(
            want is not None and want != got for want, got in zip(self.shape, shape, strict=False)
        ):
            want_text = [-1 if d is None else d for d in self.shape]
            raise InvalidRequest(
                f"input {self.name!r} must have shape {want_text}, got {list(shape)}"
            )


def _signature(arg: ort.NodeArg) -> TensorSignature:
    datatype = _ORT_TYPES.get(arg.type)
    if datatype is None:
        raise TensorError(f"tensor {arg.name!r} has unsupported type {arg.type}")
    dims = tuple(d if isinstance(d, int) and d >= 0 else None for d in arg.shape)
    return TensorSignature(name=arg.name, datatype=datatype, shape=dims)


class LoadedModel:
    """One onnxruntime session and the signature requests are checked against."""

    def __init__(self, onnx_bytes: bytes) -> None:
        options = ort.SessionOptions()
        # The gateway serves many small requests concurrently; one intra-op thread per call
        # avoids oversubscribing cores that the provers also need.
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(
            onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.inputs = [_signature(a) for a in self._session.get_inputs()]
        self.outputs = [_signature(a) for a in self._session.get_outputs()]

    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs]

    def run(self, inputs: Sequence[NamedTensor]) -> list[NamedTensor]:
        """Inputs must already be in declared order (see `zkgate.client.tensors.ordered`)."""
        for signature, tensor in zip(self.inputs, inputs, strict=True):
            signature.check(tensor)
        feeds = {t.name: np.asarray(t.array, dtype=numpy_dtype(t.datatype)) for t in inputs}
        results = self._session.run(None, feeds)
        return [
            NamedTensor(
                name=s.name, datatype=oip_datatype(np.asarray(r).dtype), array=np.asarray(r)
            )
            for s, r in zip(self.outputs, results, strict=True)
        ]


class ModelRuntime:
    """Lazily loads and caches sessions by commitment; safe to share across threads."""

    def __init__(self, store: ArtifactStore) -> None:
        self._store = store
        self._models: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self, commitment: str, onnx_digest: str) -> LoadedModel:
        model = self._models.get(commitment)
        if model is not None:
            return model
        with self._lock:
            model = self._models.get(commitment)
            if model is None:
                model = LoadedModel(self._store.read_bytes(onnx_digest))
                self._models[commitment] = model
        return model
