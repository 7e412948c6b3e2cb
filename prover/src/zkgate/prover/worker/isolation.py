"""Job handlers that run in a child process, so that the worker itself never stops.

ezkl holds the GIL for the whole of a call. Run in the worker's own process, a proof would
freeze the heartbeat thread for its full length: every lease would have to outlast the longest
proof, and a dead worker would go unnoticed for as long. In a child process the proof holds only
the child's GIL, the parent keeps renewing the lease, and leases can be short.

The child is kept from job to job (starting one costs about a second of imports), ignores the
interrupts meant for its parent (which stops after the job in hand), and is replaced when it
dies, for instance killed for memory; the job it was running then fails as transient, so the
queue retries it. A cancelled job's child is killed on purpose (stop_current): there is no other
way to stop an ezkl call, and the queue has already recorded the job as cancelled, so the failure
report that follows is dropped. A child may run at a lower CPU priority than its parent (a
registration lane's child yields the cores to the proving lane's: lanes.py).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from zkgate.prover.queue.jobs import Job, JobKind
from zkgate.prover.worker.loop import BatchHandler, JobHandler

logger = logging.getLogger("zkgate.prover.worker.isolation")

_T = TypeVar("_T")

HandlerFactory = Callable[[], Mapping[JobKind, JobHandler]]
BatchHandlerFactory = Callable[[], BatchHandler]

# The handlers built inside the child process by _install.
_child_handlers: Mapping[JobKind, JobHandler] = {}
_child_batch_handler: BatchHandler | None = None


class HandlerProcessDied(RuntimeError):
    """The child process ended in the middle of a job: a transient failure."""


def _install(
    factory: HandlerFactory, batch_factory: BatchHandlerFactory | None, log_level: int, nice: int
) -> None:
    global _child_handlers, _child_batch_handler
    if nice:
        os.nice(nice)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("ezkl").setLevel(logging.WARNING)
    _child_handlers = factory()
    _child_batch_handler = None if batch_factory is None else batch_factory()


def _run(job: Job) -> dict[str, Any]:
    return _child_handlers[job.kind](job)


def _run_batch(jobs: Sequence[Job]) -> list[dict[str, Any]]:
    assert _child_batch_handler is not None, "no batch handler factory was given"
    return _child_batch_handler(jobs)


class ChildProcessHandlers:
    """One child process serving every job kind the factory builds handlers for.

    factory (and batch_factory, which builds the handler of prove batches) must be picklable
    (a module-level function, or a functools.partial of one): the child is started fresh
    (spawn), so that it inherits no database connection or lock. nice is added to the child's
    niceness, on top of the parent's.
    """

    def __init__(
        self,
        factory: HandlerFactory,
        kinds: frozenset[JobKind],
        batch_factory: BatchHandlerFactory | None = None,
        *,
        nice: int = 0,
    ) -> None:
        self._factory = factory
        self._kinds = kinds
        self._batch_factory = batch_factory
        self._nice = nice
        self._pool: ProcessPoolExecutor | None = None
        # Guards busy and killed, so stop_current kills a child only in the middle of a call.
        self._lock = threading.Lock()
        self._busy = False
        self._killed = False

    def handlers(self) -> dict[JobKind, JobHandler]:
        return {kind: self._handle for kind in self._kinds}

    def batch_handler(self) -> BatchHandler:
        return self._handle_batch

    def _handle(self, job: Job) -> dict[str, Any]:
        return self._in_child(lambda pool: pool.submit(_run, job).result(), job.id)

    def _handle_batch(self, jobs: Sequence[Job]) -> list[dict[str, Any]]:
        return self._in_child(
            lambda pool: pool.submit(_run_batch, list(jobs)).result(),
            ", ".join(job.id for job in jobs),
        )

    def _in_child(self, call: Callable[[ProcessPoolExecutor], _T], job_ids: str) -> _T:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_install,
                initargs=(
                    self._factory,
                    self._batch_factory,
                    logging.getLogger().getEffectiveLevel(),
                    self._nice,
                ),
            )
        pool = self._pool
        with self._lock:
            self._busy = True
        try:
            return call(pool)
        except BrokenProcessPool as exc:
            self._discard(pool)
            logger.warning("the handler process died during job %s; a new one will start", job_ids)
            raise HandlerProcessDied(
                f"the proving process died during the job (out of memory?): {exc}"
            ) from exc
        finally:
            with self._lock:
                self._busy = False
                killed, self._killed = self._killed, False
            if killed:
                # Killed as its call returned: never hand the next job to a dead pool.
                self._discard(pool)

    def stop_current(self) -> None:
        """Kills the child in the middle of its call (a cancelled job); the call then raises
        HandlerProcessDied, and the next job starts a new child. Does nothing between calls.
        Safe from another thread."""
        with self._lock:
            pool = self._pool
            if not self._busy or pool is None:
                return
            self._killed = True
            for process in list(pool._processes.values()):
                logger.info("stopping the handler process %d: its job was cancelled", process.pid)
                process.kill()

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        pool.shutdown(wait=False, cancel_futures=True)
        if self._pool is pool:
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
