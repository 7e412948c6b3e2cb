"""Ready model records for the request path, read from the catalogue at most once a second.

Inference runs on the gateway's event loop, and with PostgreSQL a catalogue read is a network
round trip (and, while the database restarts, up to its reconnect delay): one per request would
put the database on the latency path of every prediction and stall the loop. A ready record
stays true until an operator removes its version or pins another default: this gateway forgets
the model's records at once when it does so itself (forget), others within MAX_AGE_SECONDS.
Records that are not ready are never kept, so a model that finishes registering serves at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from zkgate.prover.queue.catalog import ModelRecord, ModelState

# Bounds how long a record changed by another gateway (a removal, a new default) is served.
MAX_AGE_SECONDS = 2.0


class ReadyModels:
    def __init__(
        self,
        read: Callable[[str, str], ModelRecord],
        *,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """read(name, version): the catalogue's get."""
        self._read = read
        self._max_age = max_age
        self._clock = clock
        self._records: dict[tuple[str, str], tuple[float, ModelRecord]] = {}
        self._lock = threading.Lock()

    def get(self, name: str, version: str = "") -> ModelRecord:
        """The catalogue's record for `name` at `version` (empty: the default version): a kept
        ready one, or a fresh read."""
        key = (name, version)
        now = self._clock()
        with self._lock:
            kept = self._records.get(key)
        if kept is not None and now - kept[0] < self._max_age:
            return kept[1]
        record = self._read(name, version)
        with self._lock:
            if record.state == ModelState.READY:
                self._records[key] = (now, record)
            else:
                self._records.pop(key, None)
        return record

    def forget(self, name: str) -> None:
        """Drops every kept record of the model: its versions or default just changed."""
        with self._lock:
            for key in [key for key in self._records if key[0] == name]:
                del self._records[key]
