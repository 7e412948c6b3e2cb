"""Ready model records for the request path, read from the catalogue at most once a second.

Inference runs on the gateway's event loop, and with PostgreSQL a catalogue read is a network
round trip (and, while the database restarts, up to its reconnect delay): one per request would
put the database on the latency path of every prediction and stall the loop. A ready record is
safe to keep: the catalogue never hands a registering or ready name to a new registration, so
what a ready record says stays true. Names that are not ready are never kept, so a model that
finishes registering serves at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from zkgate.prover.queue.catalog import ModelRecord, ModelState

# Bounds how long a record edited behind the gateway's back (an operator, a migration) is served.
MAX_AGE_SECONDS = 2.0


class ReadyModels:
    def __init__(
        self,
        read: Callable[[str], ModelRecord],
        *,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._max_age = max_age
        self._clock = clock
        self._records: dict[str, tuple[float, ModelRecord]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> ModelRecord:
        """The catalogue's record for `name`: a kept ready one, or a fresh read."""
        now = self._clock()
        with self._lock:
            kept = self._records.get(name)
        if kept is not None and now - kept[0] < self._max_age:
            return kept[1]
        record = self._read(name)
        with self._lock:
            if record.state == ModelState.READY:
                self._records[name] = (now, record)
            else:
                self._records.pop(name, None)
        return record
