"""Deleting the artifacts of removed model versions that nothing else uses.

Artifacts are content-addressed, so one file may serve many versions and models (the same
ONNX under two names, one SRS slice for every circuit of a size). A removed version's
artifact is deleted only when no live version references it, nor a removed one still in use.
References are counted from the catalogue itself (cards, uploads, registration payloads) each
time, not kept as counters, so they cannot drift from what the cards say.

The sweep deletes nothing for a version while a job runs on it (a proof reading its proving
key, or its registration still writing), nor anything at all while any registration is under
way (its job queued or running): its card, not yet written, may name a shared artifact (an SRS
slice) that only it would keep. Such versions wait for the next sweep; the gateway sweeps
after each removal and periodically.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from zkgate.core.card import ModelCard
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.queue.database import Database
from zkgate.prover.queue.sql_session import Row, Session


@dataclass(frozen=True)
class SweepReport:
    deleted: int = 0
    freed_bytes: int = 0
    # Why removed versions still hold their artifacts ("digits 2: job ... is running").
    waiting: list[str] = field(default_factory=list)


def sweep_removed_artifacts(db: Database, store: ArtifactStore) -> SweepReport:
    versions, running = db.read(_snapshot)
    removed = [v for v in versions if v["removed_at"] is not None and v["swept_at"] is None]
    if not removed:
        return SweepReport()
    registering = [v for v in versions if v["removed_at"] is None and _registering(v)]
    if registering:
        first = registering[0]
        return SweepReport(
            waiting=[
                f"{v['name']} {v['version']}: model {first['name']!r} version "
                f"{first['version']} is registering"
                for v in removed
            ]
        )
    busy = {_key(v): reason for v in removed if (reason := _busy(v, running))}
    keep = set().union(
        *(_references(v) for v in versions if v["removed_at"] is None or _key(v) in busy)
    )
    deleted = freed = 0
    swept = [v for v in removed if _key(v) not in busy]
    for digest in set().union(*(_references(v) for v in swept)) - keep:
        size = store.delete(digest)
        if size is not None:
            deleted += 1
            freed += size
    db.transaction(lambda session: _mark_swept(session, swept))
    return SweepReport(
        deleted=deleted,
        freed_bytes=freed,
        waiting=[f"{name} {number}: {reason}" for (name, number), reason in busy.items()],
    )


def _key(version: Row) -> tuple[str, int]:
    return version["name"], int(version["version"])


def _snapshot(session: Session) -> tuple[list[Row], list[Row]]:
    versions = session.all(
        """SELECT v.*, j.payload AS registration_payload, j.state AS registration_state
           FROM model_versions v LEFT JOIN jobs j ON j.id = v.registration_job_id"""
    )
    running = session.all(
        "SELECT id, model_name, payload FROM jobs WHERE kind = 'prove' AND state = 'running'"
    )
    return versions, running


def _registering(version: Row) -> bool:
    """A registration still to finish: its job is queued or running. A version left
    registering without a live job (a gateway that died before queueing it) holds nothing
    back."""
    return version["state"] == "registering" and version["registration_state"] in (
        "queued",
        "running",
    )


def _busy(version: Row, running: list[Row]) -> str:
    """Why the version's artifacts are in use, or '' when they are not."""
    if version["registration_state"] == "running":
        return f"its registration job {version['registration_job_id']} is running"
    for job in running:
        if (
            job["model_name"] == version["name"]
            and version["commitment"] is not None
            and json.loads(job["payload"]).get("commitment") == version["commitment"]
        ):
            return f"job {job['id']} is proving it"
    return ""


def _references(version: Row) -> set[str]:
    """Every artifact the version names: its uploads, what its registration payload stored,
    and its card's artifacts (the batch circuit's too)."""
    found = {version["onnx_digest"], version["calibration_digest"]}
    if version["registration_payload"]:
        payload = json.loads(version["registration_payload"])
        found |= {v for k, v in payload.items() if k.endswith("_digest") and isinstance(v, str)}
    if version["card_json"]:
        card = ModelCard.from_json(version["card_json"])
        found |= set(card.artifacts.values())
        if card.batch is not None:
            found |= set(card.batch.artifacts.values())
    return found


def _mark_swept(session: Session, versions: Iterable[Row]) -> None:
    now = time.time()
    for version in versions:
        session.run(
            "UPDATE model_versions SET swept_at = ? WHERE name = ? AND version = ?",
            (now, version["name"], version["version"]),
        )
