"""What one inference served: its outputs and a signed receipt per row.

A request to a model with a dynamic batch axis holds several rows, each receipted (and proven)
as a prediction of its own (see zkgate.core.batch_rows); any other request is one row.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from zkgate.core.batch_rows import row_request_id, split_rows
from zkgate.core.card import ModelCard
from zkgate.core.receipts import Receipt, ReceiptBody
from zkgate.core.tensors import NamedTensor, tensors_digest
from zkgate.gateway.receipt_signer import ReceiptSigner
from zkgate.prover.queue.catalog import ModelRecord


@dataclass(frozen=True)
class ServedRow:
    """One row of a request, receipted (and proven) as a prediction of its own."""

    inputs: list[NamedTensor]
    outputs: list[NamedTensor]
    receipt: Receipt


@dataclass(frozen=True)
class InferenceResult:
    model: ModelRecord
    card: ModelCard
    # The whole request's outputs, as onnxruntime computed them for every row at once.
    outputs: list[NamedTensor]
    # One row unless the model has a dynamic batch axis.
    rows: list[ServedRow]
    # The request asked for a proof, or the model's policy is `always`: see `enqueue_proofs`.
    proof_wanted: bool


def receipted_rows(
    signer: ReceiptSigner,
    record: ModelRecord,
    inputs: Sequence[NamedTensor],
    outputs: Sequence[NamedTensor],
    *,
    rows: int,
    request_id: str,
) -> list[ServedRow]:
    """Each row's tensors under a receipt binding the model's commitment, the row's input and
    output digests and its request id, all issued at one time."""
    assert record.commitment is not None
    issued_at_ms = int(time.time() * 1000)
    return [
        ServedRow(
            inputs=row_inputs,
            outputs=row_outputs,
            receipt=signer.sign(
                ReceiptBody(
                    model=record.name,
                    commitment=record.commitment,
                    input_digest=tensors_digest(row_inputs),
                    output_digest=tensors_digest(row_outputs),
                    request_id=row_request_id(request_id, row, rows),
                    issued_at_ms=issued_at_ms,
                )
            ),
        )
        for row, (row_inputs, row_outputs) in enumerate(
            zip(split_rows(inputs, rows), split_rows(outputs, rows), strict=True)
        )
    ]
