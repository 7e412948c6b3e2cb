"""How long each stage of building a circuit took, logged: the first thing to read when a
registration is slow, since calibration, setup and fidelity each dominate for some model."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger("zkgate.prover.circuits.registration")


@contextmanager
def timed(model: str, phase: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    logger.info("registering %s: %s took %.2f s", model, phase, time.monotonic() - started)
