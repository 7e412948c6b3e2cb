"""Where a request sits in a batched proof: the file `zkgate infer --save` writes next to it.

It comes from the prove job, so it is the prover's word: the client checks it against the
proof (the Poseidon hashes at its index) in `verification`, never trusts it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from zkgate.core.documents import DocumentError, parse_object, quote

BATCH_ENTRY_FORMAT = "zkgate.batch-entry/1"


@dataclass(frozen=True)
class BatchEntry:
    """Where a request sits in a batched proof, as its prove job reports it, and the quantized
    outputs (felts, one list per output tensor) proven for it: the proof holds only their
    Poseidon hashes."""

    index: int
    size: int
    outputs: list[list[str]]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": BATCH_ENTRY_FORMAT,
                "index": self.index,
                "size": self.size,
                "outputs": self.outputs,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> BatchEntry:
        """As `zkgate infer --save` writes it next to a batched proof."""
        try:
            fields = parse_object(text, what="batch entry")
            if fields.raw.get("format") != BATCH_ENTRY_FORMAT:
                raise DocumentError(
                    f"format {quote(fields.raw.get('format'))}, want {BATCH_ENTRY_FORMAT!r}"
                )
            outputs = fields.array("outputs")
            if not are_felt_lists(outputs):
                raise DocumentError("`outputs` must be lists of felt strings")
            return cls(index=fields.count("index"), size=fields.count("size"), outputs=outputs)
        except DocumentError as exc:
            raise BatchEntryFormatError(f"not a batch entry: {exc}") from exc


def are_felt_lists(value: object) -> bool:
    """Outputs as JSON gives them: a list of tensors, each a list of felt strings (their values
    are checked where they are used, against the proof)."""
    return isinstance(value, list) and all(
        isinstance(tensor, list) and all(isinstance(felt, str) for felt in tensor)
        for tensor in value
    )


class BatchEntryFormatError(ValueError):
    """A saved batch entry that cannot be read."""
