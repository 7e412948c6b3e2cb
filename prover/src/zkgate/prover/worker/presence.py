"""A prover's advert in the shared database, kept alive while the prover runs.

Gateways read the adverts to refuse jobs no live prover can hold (queue/provers.py), so the
advert is renewed from a thread of its own: a lane busy with a long registration does not make
its prover look dead. A clean stop withdraws it at once; a prover that dies stops counting once
its advert is LIVENESS_SECONDS old.
"""

from __future__ import annotations

import logging
import threading
import time

from zkgate.prover.queue.provers import ADVERT_INTERVAL_SECONDS, ProverAdvert, ProverDirectory

logger = logging.getLogger("zkgate.prover.worker.presence")


class ProverPresence:
    """Advertises on entry (so the prover counts before its first claim), renews every
    interval_seconds, withdraws on exit."""

    def __init__(
        self,
        directory: ProverDirectory,
        advert: ProverAdvert,
        *,
        interval_seconds: float = ADVERT_INTERVAL_SECONDS,
    ) -> None:
        self._directory = directory
        self._advert = advert
        self._interval_seconds = interval_seconds
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="prover-advert", daemon=True)

    def __enter__(self) -> ProverPresence:
        self._directory.advertise(self._advert, now=time.time())
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()
        try:
            self._directory.withdraw(self._advert.prover_id)
        except Exception:
            logger.warning("could not withdraw the advert of %s", self._advert.prover_id)

    def _renew(self) -> None:
        while not self._done.wait(self._interval_seconds):
            try:
                self._directory.advertise(self._advert, now=time.time())
            except Exception:
                logger.exception("renewing the advert of %s failed; retrying", self._advert)
