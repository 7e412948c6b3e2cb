"""Local prover processes for embedded mode (`zkgate serve --workers N`).

Provers run as separate processes because ezkl holds the GIL for a whole prove: inside the
gateway process it would freeze every handler, health checks included. Each gets a stable
worker id, is restarted if it dies, and runs at a lower OS priority than the gateway.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from zkgate.prover.artifacts.store_settings import ArtifactSettings
from zkgate.prover.queue.database_settings import child_environment

log = logging.getLogger("zkgate.gateway.provers")


class ProverPool:
    def __init__(
        self,
        *,
        data_dir: Path,
        workers: int,
        lease_seconds: float,
        nice: int,
        lanes: str,
        memory_budget: str,
        batch_window_seconds: float,
        srs_path: str,
        srs_sha256: str,
        artifacts: ArtifactSettings,
        metrics_dir: Path | None = None,
        database_url: str = "",
    ) -> None:
        self._data_dir = data_dir
        # The database URL holds a password: it goes to the provers in their environment,
        # where other users cannot read it, and not in their argv, where they can.
        self._environment = child_environment(database_url, os.environ)
        self._workers = workers
        self._lease_seconds = lease_seconds
        self._batch_window_seconds = batch_window_seconds
        self._nice = nice
        self._lanes = lanes
        self._memory_budget = ["--memory-budget", memory_budget] if memory_budget else []
        self._srs = ["--srs-path", srs_path, "--srs-sha256", srs_sha256] if srs_path else []
        self._artifacts = artifacts.as_arguments()
        # The gateway serves its provers' metrics from metrics_dir; none listens on a port.
        self._metrics = ["--metrics-port", "0"]
        if metrics_dir is not None:
            self._metrics += ["--metrics-dir", str(metrics_dir)]
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
            "--lanes",
            self._lanes,
            *self._memory_budget,
            "--batch-window-seconds",
            str(self._batch_window_seconds),
            *self._srs,
            *self._artifacts,
            *self._metrics,
        ]

    async def start(self) -> None:
        for index in range(self._workers):
            self._tasks.append(asyncio.create_task(self._supervise(f"prover-{index}")))

    async def _supervise(self, worker_id: str) -> None:
        backoff = 1.0
        while not self._stopping:
            process = await asyncio.create_subprocess_exec(
                *self._command(worker_id), env=self._environment
            )
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
