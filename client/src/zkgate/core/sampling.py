"""Samples that anyone holding the seed can redraw: the seed is the only randomness.

Protocols derive the seed from commitments of both parties (commit-reveal), so neither chose the
sample; this module only turns a seed into indices, uniformly and reproducibly.
"""

from __future__ import annotations

import hashlib

# Each draw reads 8 bytes of SHA-256 output, far wider than any population drawn from.
_DRAW_BITS = 64


def draw_sample(seed: bytes, population: int, k: int) -> list[int]:
    """k distinct indices in [0, population), uniform over all k-subsets, in draw order.

    A partial Fisher-Yates shuffle driven by SHA-256 in counter mode over the seed; each draw
    rejects values past the largest multiple of the range, so no index is favoured by the modulo.
    """
    if not 0 <= k <= population:
        raise ValueError(f"cannot draw {k} distinct indices from {population}")
    counter = 0

    def draw_below(bound: int) -> int:
        nonlocal counter
        limit = (1 << _DRAW_BITS) - (1 << _DRAW_BITS) % bound
        while True:
            block = hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
            counter += 1
            value = int.from_bytes(block[: _DRAW_BITS // 8], "big")
            if value < limit:
                return value % bound

    # Only the first k positions are ever swapped into, so a dict stands in for the full list
    # and a sample of 600 from a million costs 600 entries, not a million.
    swapped: dict[int, int] = {}
    for position in range(k):
        chosen = position + draw_below(population - position)
        swapped[position], swapped[chosen] = (
            swapped.get(chosen, chosen),
            swapped.get(position, position),
        )
    return [swapped.get(position, position) for position in range(k)]


def chance_to_draw_any(population: int, marked: int, k: int) -> float:
    """The exact chance that k distinct draws from `population` include at least one of
    `marked` items: 1 - C(population - marked, k) / C(population, k). Drawing without
    replacement, a sample of every item catches every mark, which 1 - (1 - p)^k never says."""
    if not (0 <= marked <= population and 0 <= k <= population):
        raise ValueError(f"cannot draw {k} of {population} items, {marked} of them marked")
    missed = 1.0
    for draw in range(k):
        missed *= max(population - marked - draw, 0) / (population - draw)
    return 1.0 - missed
