"""The gateway's own model housekeeping: the repository sync at start, and the periodic sweep
of removed versions' artifacts that had to wait for a job running on them.

Both run in threads: a sync hashes model files and a sweep deletes gigabytes of keys (or
calls S3), neither of which may stall the event loop that serves inference.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from zkgate.gateway.model_repository import ModelRepository, SyncAction
from zkgate.gateway.service import GatewayService

log = logging.getLogger("zkgate.gateway")


class ModelUpkeep:
    def __init__(
        self,
        service: GatewayService,
        repository: ModelRepository | None,
        *,
        sweep_seconds: float,
    ) -> None:
        self._service = service
        self._repository = repository
        self._sweep_seconds = sweep_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Syncs the repository (registrations are queued, not awaited), then sweeps on a
        timer. A folder the sync refuses is logged; the gateway serves the rest."""
        if self._repository is not None:
            for entry in await asyncio.to_thread(self._repository.sync):
                if entry.action == SyncAction.ERROR:
                    log.error("model repository: %s: %s", entry.name, entry.error)
                else:
                    log.info(
                        "model repository: %s %s (version %d)",
                        entry.name,
                        entry.action,
                        entry.version,
                    )
        self._task = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            try:
                report = await asyncio.to_thread(self._service.sweep_artifacts)
            except Exception:
                log.exception("artifact sweep failed; trying again in %.0f s", self._sweep_seconds)
                continue
            if report.deleted:
                log.info(
                    "artifact sweep deleted %d artifacts (%d bytes)",
                    report.deleted,
                    report.freed_bytes,
                )
