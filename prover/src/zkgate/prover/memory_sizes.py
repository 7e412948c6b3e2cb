"""Memory sizes as operators write them and as messages print them.

One reading for the prover's --memory-budget, the gateway's setting that passes it on and the
chart's values, so "12Gi" means the same in a Kubernetes manifest and on a command line; and one
way of printing, so an error that sets a model's need against a prover's budget is read at a
glance and still gives the exact bytes.
"""

from __future__ import annotations

import re

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "ki": 1024,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mi": 1024**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gi": 1024**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ti": 1024**4,
    "tib": 1024**4,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")
_GIB = 1024**3
_MIB = 1024**2


def parse_size(text: str) -> int:
    """Bytes from "8GiB", "12Gi" (Kubernetes), "512MB", "1.5G" or a plain count of bytes."""
    match = _SIZE.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(
            f"{text!r} is not a memory size: write a number with an optional unit (B, KiB, MiB, "
            "GiB, TiB, or KB, MB, GB, TB; Kubernetes' Ki, Mi, Gi, Ti also work)"
        )
    size = int(float(match.group(1)) * _UNITS[unit])
    if size <= 0:
        raise ValueError(f"a memory size must be positive, got {text!r}")
    return size


def largest_size(text: str) -> int | None:
    """The largest of comma-separated sizes ("56Gi,24Gi"); None for an empty text."""
    sizes = [parse_size(part) for part in text.split(",") if part.strip()]
    return max(sizes) if sizes else None


def describe_size(size: int) -> str:
    """ "10.9 GiB (11,703,000,000 bytes)": binary units, as RSS and limits are read."""
    scaled = f"{size / _GIB:.1f} GiB" if size >= _GIB else f"{size / _MIB:.1f} MiB"
    return f"{scaled} ({size:,} bytes)"
