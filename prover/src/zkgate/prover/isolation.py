"""Job handlers that run in a child process, so that the worker itself never stops.

ezkl holds the GIL for the whole of a call. Run in the worker's own process, a proof would
freeze the heartbeat thread for its full length: every lease would have to outlast the longest
proof, and a dead worker would go unnoticed for as long. In a child process the proof holds only
the child's GIL, the parent keeps renewing the lease, and leases can be short.

The child is kept from job to job (starting one costs about a second of imports), ignores the
interrupts meant for its parent (which stops after the job in hand), and is replaced when it
dies, for instance killed for memory; the job it was running then fails as transient, so the
queue retries it.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from zkgate.prover.jobs import Job, JobKind
from zkgate.prover.worker import JobHandler

logger = logging.getLogger("zkgate.prover.isolation")

HandlerFactory = Callable[[], Mapping[JobKind, JobHandler]]

# The handlers built inside the child process by _install.
_child_handlers: Mapping[JobKind, JobHandler] = {}


class HandlerProcessDied(RuntimeError):
    """The child process ended in the middle of a job: a transient failure."""


def _install(factory: HandlerFactory, log_level: int) -> None:
    global _child_handlers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("ezkl").setLevel(logging.WARNING)
    _child_handlers = factory()


def _run(job: Job) -> dict[str, Any]:
    return _child_handlers[job.kind](job)


class ChildProcessHandlers:
    """One child process serving every job kind the factory builds handlers for.

    factory must be picklable (a module-level function, or a functools.partial of one): the
    child is started fresh (spawn), so that it inherits no database connection or lock.
    """

    def __init__(self, factory: HandlerFactory, kinds: frozenset[JobKind]) -> None:
        self._factory = factory
        self._kinds = kinds
        self._pool: ProcessPoolExecutor | None = None

    def handlers(self) -> dict[JobKind, JobHandler]:
        return {kind: self._handle for kind in self._kinds}

    def _handle(self, job: Job) -> dict[str, Any]:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_install,
                initargs=(self._factory, logging.getLogger().getEffectiveLevel()),
            )
        try:
            return self._pool.submit(_run, job).result()
        except BrokenProcessPool as exc:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            logger.warning("the handler process died during job %s; a new one will start", job.id)
            raise HandlerProcessDied(
                f"the proving process died during the job (out of memory?): {exc}"
            ) from exc

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
