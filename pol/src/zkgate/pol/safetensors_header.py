"""The JSON header of a safetensors file, read through the bounded document layer.

safetensors' own parser is sound, but the header is the one part of a checkpoint or dataset
file that is free-form text from the prover. Reading it here first refuses a header nested
100,000 levels deep, or of a wrong type, with a reason, before any tensor is built.
"""

from __future__ import annotations

from zkgate.core.documents import DocumentError, parse_object

# A header lists each tensor's name, dtype, shape and offsets: a few hundred bytes per tensor.
HEADER_LIMIT = 1 << 20
_LENGTH_BYTES = 8


def safetensors_metadata(data: bytes, what: str) -> dict[str, str]:
    """The header's `__metadata__` (string to string, as the format defines it)."""
    if len(data) < _LENGTH_BYTES:
        raise DocumentError(f"{what} is truncated ({len(data)} bytes)")
    length = int.from_bytes(data[:_LENGTH_BYTES], "little")
    if length > min(HEADER_LIMIT, len(data) - _LENGTH_BYTES):
        raise DocumentError(f"{what} is not a safetensors file (header length {length:,})")
    header = parse_object(
        data[_LENGTH_BYTES : _LENGTH_BYTES + length], what=f"{what} header", max_bytes=HEADER_LIMIT
    )
    if "__metadata__" not in header:
        return {}
    return header.string_map("__metadata__")
