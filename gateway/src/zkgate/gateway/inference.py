"""Running registered models in onnxruntime, with inputs checked against the model card.

Every served model was registered, and registration fixed its signature (names, datatypes and
shapes: a circuit has one size), so requests are checked against the card, the same source the
client reads. Sessions are cached per model commitment: a model registered anew under the same
name gets a fresh session, and a request can never run weights other than its receipt names.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from zkgate.client.card import ModelCard, TensorSpec
from zkgate.client.tensors import NamedTensor, numpy_dtype, oip_datatype
from zkgate.gateway.errors import InvalidRequest
from zkgate.prover.store import ArtifactStore


def check_input(spec: TensorSpec, tensor: NamedTensor) -> None:
    if tensor.datatype != spec.datatype:
        raise InvalidRequest(f"input {spec.name!r} must be {spec.datatype}, got {tensor.datatype}")
    if list(tensor.shape) != spec.shape:
        raise InvalidRequest(
            f"input {spec.name!r} must have shape {spec.shape}, got {list(tensor.shape)}"
        )


class LoadedModel:
    """One onnxruntime session and the card its requests are checked against."""

    def __init__(self, onnx_bytes: bytes, card: ModelCard) -> None:
        options = ort.SessionOptions()
        # The gateway serves many small requests concurrently; one intra-op thread per call
        # avoids oversubscribing cores that the provers also need.
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(
            onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.inputs = card.inputs
        self.outputs = card.outputs

    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs]

    def run(self, inputs: Sequence[NamedTensor]) -> list[NamedTensor]:
        """Inputs must already be in declared order (see `zkgate.client.tensors.ordered`)."""
        for spec, tensor in zip(self.inputs, inputs, strict=True):
            check_input(spec, tensor)
        feeds = {t.name: np.asarray(t.array, dtype=numpy_dtype(t.datatype)) for t in inputs}
        results = self._session.run([s.name for s in self.outputs], feeds)
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

    def get(self, commitment: str, card_json: str, onnx_digest: str) -> LoadedModel:
        model = self._models.get(commitment)
        if model is not None:
            return model
        with self._lock:
            model = self._models.get(commitment)
            if model is None:
                card = ModelCard.from_json(card_json)
                model = LoadedModel(self._store.read_bytes(onnx_digest), card)
                self._models[commitment] = model
        return model
