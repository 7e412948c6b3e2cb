"""The rows of a batched request to a model with a dynamic batch axis.

Each row is served, receipted and proven as a prediction of its own (the circuit holds one
row), so the gateway and the client must cut a batch into the same rows with the same request
ids: this module is the one place that says how.
"""

from __future__ import annotations

from collections.abc import Sequence

from zkgate.core.tensors import NamedTensor


class BatchRowsError(ValueError):
    """Tensors that do not hold the number of rows the batch has."""


def split_rows(tensors: Sequence[NamedTensor], rows: int) -> list[list[NamedTensor]]:
    """Row i of every tensor, each keeping axis 0 (of size 1): the shape a row is proven at.
    One row is the tensors as they are, so a fixed-shape model's request stays whole."""
    if rows == 1:
        return [list(tensors)]
    for tensor in tensors:
        if not tensor.shape or tensor.shape[0] != rows:
            raise BatchRowsError(
                f"tensor {tensor.name!r} has shape {list(tensor.shape)}, not {rows} rows"
            )
    return [
        [
            NamedTensor(name=t.name, datatype=t.datatype, array=t.array[row : row + 1])
            for t in tensors
        ]
        for row in range(rows)
    ]


def row_request_id(request_id: str, row: int, rows: int) -> str:
    """A request of one row keeps its id; row i of a larger batch is `<id>#<i>`."""
    return request_id if rows == 1 else f"{request_id}#{row}"
