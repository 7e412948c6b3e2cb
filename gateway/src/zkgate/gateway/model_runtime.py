"""Running registered models in onnxruntime, with inputs checked against the model card.

Every served model was registered, and registration fixed its signature (names, datatypes and
shapes: a circuit has one size), so requests are checked against the card, the same source the
client reads. Sessions are cached per model commitment: a model registered anew under the same
name gets a fresh session, and a request can never run weights other than its receipt names.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from zkgate.core.card import ModelCard, TensorSpec
from zkgate.core.documents import quote
from zkgate.core.tensors import NamedTensor, numpy_dtype, oip_datatype, ordered
from zkgate.gateway.errors import InvalidRequest
from zkgate.prover.artifacts.store import ArtifactStore

# ezkl quantizes an input x at scale s to round(x * 2^s) held in an i128. Measured with
# ezkl.float_to_felt on ezkl 23.0.5 at scales 0, 7 and 13: |x| * 2^s up to 2^127 quantizes,
# exactly 2^127 saturates to 2^127 - 1 (a wrong value, silently), and the next float above
# raises "Failed to quantize input"; NaN quantizes to 0. So |x| must stay below 2^(127 - s).
QUANTIZER_EXPONENT = 127


def quantizable_bound(scale: int) -> float:
    """The magnitude every circuit input must stay below at this input scale."""
    return math.ldexp(1.0, QUANTIZER_EXPONENT - scale)


def check_input(spec: TensorSpec, tensor: NamedTensor, *, dynamic_batch: bool) -> None:
    """With a dynamic batch axis, axis 0 may hold any number of rows; the rest is the row's."""
    if tensor.datatype != spec.datatype:
        raise InvalidRequest(
            f"input {quote(spec.name)} must be {spec.datatype}, got {quote(tensor.datatype)}"
        )
    shape = list(tensor.shape)
    if dynamic_batch:
        if shape[1:] != spec.shape[1:] or not shape or shape[0] < 1:
            row = ", ".join(str(d) for d in spec.shape[1:])
            raise InvalidRequest(
                f"input {quote(spec.name)} must have shape [rows, {row}] (one or more rows), "
                f"got {shape}"
            )
    elif shape != spec.shape:
        raise InvalidRequest(f"input {quote(spec.name)} must have shape {spec.shape}, got {shape}")


def check_provable_values(tensor: NamedTensor, scale: int) -> None:
    """Refuses values the circuit cannot hold. ezkl turns NaN into 0, so an input with NaN
    would be served one output and proven as another input; infinities and huge values fail
    in the quantizer only once a prover takes the job. Refusing them before onnxruntime runs
    keeps a receipt from ever naming an input no proof can match."""
    values = np.asarray(tensor.array, dtype=np.float64)
    if not np.isfinite(values).all():
        raise InvalidRequest(
            f"input {quote(tensor.name)} holds NaN or infinite values, which no proof can "
            "show (ezkl would prove NaN as 0); send finite numbers"
        )
    bound = quantizable_bound(scale)
    largest = float(np.abs(values).max(initial=0.0))
    if largest >= bound:
        raise InvalidRequest(
            f"input {quote(tensor.name)} holds a value of magnitude {largest:.6g}; this "
            f"model's circuit quantizes inputs at scale 2^{scale} and takes only values of "
            f"magnitude below {bound:.6g}"
        )


class LoadedModel:
    """One onnxruntime session and the card its requests are checked against."""

    def __init__(self, onnx_bytes: bytes, card: ModelCard, max_batch_rows: int) -> None:
        options = ort.SessionOptions()
        # The gateway serves many small requests concurrently; one intra-op thread per call
        # avoids oversubscribing cores that the provers also need.
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(
            onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        # Parsed once per model: every proof job of its requests reads its costs.
        self.card = card
        self.inputs = card.inputs
        self.outputs = card.outputs
        self.dynamic_batch = card.dynamic_batch
        self._max_rows = max_batch_rows
        # A request may be proven by the model's own circuit or by its batch circuit: the
        # finer scale of the two bounds what both can quantize.
        self.input_scale = max(
            card.input_scale, card.input_scale if card.batch is None else card.batch.input_scale
        )

    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs]

    def ordered_inputs(self, tensors: Sequence[NamedTensor]) -> list[NamedTensor]:
        """The tensors in the model's declared order, each named once."""
        by_name = {t.name: t for t in tensors}
        if len(by_name) != len(tensors):
            raise InvalidRequest("an input tensor name appears twice")
        return ordered(by_name, self.input_names)

    def one_row_inputs(self, tensors: Sequence[NamedTensor]) -> list[NamedTensor]:
        """Inputs for a proof that no inference checks first: one row, as a proof covers."""
        inputs = self.ordered_inputs(tensors)
        if self.check_inputs(inputs) != 1:
            raise InvalidRequest("a proof covers one row: send the row's own tensors")
        return inputs

    def served_shape(self, spec: TensorSpec) -> list[int]:
        """The shape as OIP metadata states it: -1 for a dynamic axis."""
        return [-1, *spec.shape[1:]] if self.dynamic_batch else spec.shape

    def check_inputs(self, inputs: Sequence[NamedTensor]) -> int:
        """Inputs in declared order (see `zkgate.core.tensors.ordered`) must match the card
        and be values the circuit can prove. Returns the number of rows: each is proven on its
        own, so a request holds 1 unless the model has a dynamic batch axis."""
        for spec, tensor in zip(self.inputs, inputs, strict=True):
            check_input(spec, tensor, dynamic_batch=self.dynamic_batch)
            check_provable_values(tensor, self.input_scale)
        if not self.dynamic_batch:
            return 1
        rows = {t.name: t.shape[0] for t in inputs}
        if len(set(rows.values())) != 1:
            raise InvalidRequest(f"inputs must hold the same number of rows, got {rows}")
        count = next(iter(rows.values()))
        if count > self._max_rows:
            raise InvalidRequest(
                f"a request may hold at most {self._max_rows} rows (the gateway's "
                f"max_batch_rows), got {count}; split it"
            )
        return count

    def run(self, inputs: Sequence[NamedTensor]) -> list[NamedTensor]:
        """Inputs must already be in declared order and checked (`check_inputs`)."""
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

    def __init__(self, store: ArtifactStore, max_batch_rows: int) -> None:
        self._store = store
        self._max_batch_rows = max_batch_rows
        self._models: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self, commitment: str, card_json: str) -> LoadedModel:
        """The card names the served graph: the uploaded ONNX, or what registration converted
        it to (ONNX-ML operators rewritten), whichever its circuit was built from."""
        model = self._models.get(commitment)
        if model is not None:
            return model
        with self._lock:
            model = self._models.get(commitment)
            if model is None:
                card = ModelCard.from_json(card_json)
                model = LoadedModel(
                    self._store.read_bytes(card.onnx_sha256), card, self._max_batch_rows
                )
                self._models[commitment] = model
        return model

    def retain(self, commitments: set[str]) -> None:
        """Drops the sessions of every other commitment: a removed version's graph and weights
        should not stay in memory until the gateway restarts."""
        with self._lock:
            for commitment in set(self._models) - commitments:
                del self._models[commitment]
