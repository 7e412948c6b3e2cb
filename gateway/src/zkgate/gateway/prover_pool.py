"""Local prover processes for embedded mode (`zkgate serve --workers N`).

Provers run as separate processes because ezkl holds the GIL for a whole prove: inside the
gateway process it would freeze every handler, health checks included. Each gets a stable
worker id, is restarted if it dies, and runs at a lower OS priority than the gateway.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

log = logging.getLogger("zkgate.gateway.provers")


class ProverPool:
    def __init__(
        self,
        *,
        data_dir: Path,
        workers: int,
        lease_seconds: float,
        nice: int,
        srs_path: str,
        srs_sha256: str,
    ) -> None:
        self._data_dir = data_dir
        self._workers = workers
        self._lease_seconds = lease_seconds
        self._nice = nice
        self._srs = ["--srs-path", srs_path, "--srs-sha256", srs_sha256] if srs_path else []
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def _command(self, worker_id: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "zkgate.prover",
            "--data-dir",
            str(self._data_dir),
            "--worker-id",
            worker_id,
            "--lease-seconds",
            str(self._lease_seconds),
            "--nice",
            str(self._nice),
            *self._srs,
        ]

    async def start(self) -> None:
        for index in range(self._workers):
            self._tasks.append(asyncio.create_task(self._supervise(f"prover-{index}")))

    async def _supervise(self, worker_id: str) -> None:
        backoff = 1.0
        while not self._stopping:
            process = await asyncio.create_subprocess_exec(*self._command(worker_id))
            self._processes[worker_id] = process
            log.info("started prover %s (pid %d)", worker_id, process.pid)
            code = await process.wait()
            if self._stopping:
                return
            log.warning("prover %s exited with %s; restarting in %.0f s", worker_id, code, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    async def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        running = [p for p in self._processes.values() if p.returncode is None]
        for process in running:
            process.terminate()
        for process in running:
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                process.kill()
                await process.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
