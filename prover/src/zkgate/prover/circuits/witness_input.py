"""ezkl's data file for one request, the bytes a prove job carries.

The gateway writes them when it enqueues a proof and the prover hands the same bytes to ezkl, so
what is proven is exactly what was enqueued. Nothing here imports ezkl: the gateway needs it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from zkgate.core.canonical import canonical_json
from zkgate.core.tensors import NamedTensor, TensorError


def witness_input_json(tensors: Sequence[NamedTensor]) -> bytes:
    """One flat list per input, in the order given (the model's input order). Canonical JSON,
    so equal inputs give equal bytes and digests."""
    input_data: list[list[float]] = []
    for tensor in tensors:
        values = np.asarray(tensor.array, dtype=np.float64).ravel()
        if not np.isfinite(values).all():
            raise TensorError(f"input {tensor.name!r} holds NaN or infinity; it cannot be proven")
        input_data.append(values.tolist())
    return canonical_json({"input_data": input_data})
