"""Which models a prover can start proving at once: those whose proving key is in its cache.

A worker claims their jobs first (JobQueue.claim's prefer_models). A proving key runs to
gigabytes, so fetching one can take longer than the proof itself; a job that goes to the node
that already holds its key saves that, and keeps caches from churning.
"""

from __future__ import annotations

from zkgate.core.card import ModelCard
from zkgate.prover.artifacts.local_cache import LocalCache
from zkgate.prover.queue.catalog import ModelCatalog


class CachedKeyModels:
    """Called before each claim; cards are parsed once per commitment, since a commitment names
    one set of keys for good."""

    def __init__(self, catalog: ModelCatalog, cache: LocalCache) -> None:
        self._catalog = catalog
        self._cache = cache
        self._proving_keys: dict[str, str] = {}

    def __call__(self) -> frozenset[str]:
        cached = self._cache.digests()
        if not cached:
            return frozenset()
        return frozenset(
            record.name
            for record in self._catalog.list()
            if record.commitment is not None
            and record.card_json is not None
            and self._proving_key(record.commitment, record.card_json) in cached
        )

    def _proving_key(self, commitment: str, card_json: str) -> str:
        if commitment not in self._proving_keys:
            self._proving_keys[commitment] = ModelCard.from_json(card_json).artifacts["pk"]
        return self._proving_keys[commitment]
