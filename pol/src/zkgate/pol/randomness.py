"""Every random choice in a proof-of-learning, from a fully specified generator.

The data order and the verifier's segment sample are drawn from SHA-256 in counter mode, and the
initial weights from PCG64's raw output. Neither depends on how a library version maps bits to
numbers (numpy only promises stable streams for bit generators, not for its sampling methods), so
a verifier years later, on another machine, draws exactly what the trainer drew.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from zkgate.core.canonical import framed_digest

_ORDER_DOMAIN = "zkgate.pol.order/1"
_INIT_DOMAIN = "zkgate.pol.init/1"


class HashStream:
    """Unbounded 64-bit words: SHA-256(domain, key, counter), 4 words per block."""

    def __init__(self, domain: str, key: bytes) -> None:
        self._prefix = bytes.fromhex(framed_digest(domain, [key]))
        self._counter = 0
        self._words: list[int] = []

    def word(self) -> int:
        if not self._words:
            block = hashlib.sha256(self._prefix + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
            self._words = [int.from_bytes(block[i : i + 8], "big") for i in (24, 16, 8, 0)]
        return self._words.pop()

    def below(self, bound: int) -> int:
        """Uniform in [0, bound), by rejection, so no value is favoured."""
        if bound < 1:
            raise ValueError("bound must be positive")
        limit = (1 << 64) - (1 << 64) % bound
        while True:
            value = self.word()
            if value < limit:
                return value % bound

    def sample(self, population: Sequence[int], count: int) -> list[int]:
        """`count` distinct members, by a partial Fisher-Yates shuffle."""
        pool = list(population)
        count = min(count, len(pool))
        for i in range(count):
            j = i + self.below(len(pool) - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:count]


def data_order(seed: bytes, epoch: int, size: int) -> npt.NDArray[np.int64]:
    """The permutation of example indices for one epoch."""
    stream = HashStream(_ORDER_DOMAIN, seed + epoch.to_bytes(8, "big"))
    return np.asarray(stream.sample(range(size), size), dtype=np.int64)


def uniform_stream(seed: bytes, label: str) -> UniformStream:
    return UniformStream(bytes.fromhex(framed_digest(_INIT_DOMAIN, [seed, label.encode()])))


class UniformStream:
    """Doubles in [0, 1) from PCG64's raw 64-bit output: the top 53 bits, scaled."""

    def __init__(self, key: bytes) -> None:
        entropy = int.from_bytes(key, "big")
        self._generator = np.random.PCG64(np.random.SeedSequence(entropy))

    def draw(self, count: int) -> npt.NDArray[np.float64]:
        raw = np.asarray(self._generator.random_raw(count), dtype=np.uint64)
        return (raw >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
