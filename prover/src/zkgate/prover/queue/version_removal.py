"""Removing model versions: hidden at once, their queued jobs failed, their artifacts left to
the sweep (artifact_sweep.py).

A version is marked removed rather than deleted, in one transaction with the failing of its
queued jobs, so no prover starts work for it afterwards, while a job already running keeps
the artifacts it uses: the sweep deletes them only once nothing runs on them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from zkgate.prover.queue.catalog import ModelNotFound, ModelRecord, live_versions, resolve
from zkgate.prover.queue.database import Database
from zkgate.prover.queue.sql_session import Session


@dataclass(frozen=True)
class Removal:
    removed: list[ModelRecord]
    # Queued jobs failed because their version went.
    failed_jobs: list[str]


def remove_versions(db: Database, name: str, version: str = "") -> Removal:
    """Removes one version of `name` (its number or commitment) or, with version empty, all of
    them; raises ModelNotFound / VersionNotFound. Queued registration and prove jobs of the
    removed versions fail with an error that says so; running ones finish untouched."""
    return db.transaction(lambda session: _remove(session, name, version))


def _remove(session: Session, name: str, version: str) -> Removal:
    session.backend.serialize(session, f"zkgate-model:{name}")
    versions = live_versions(session, name)
    targets = [resolve(versions, name, version)] if version else versions
    if not targets:
        raise ModelNotFound(f"no model {name!r}")
    now = time.time()
    failed: list[str] = []
    for target in targets:
        session.run(
            "UPDATE model_versions SET removed_at = ?, pinned_default = 0, updated_at = ? "
            "WHERE name = ? AND version = ?",
            (now, now, name, target.version),
        )
        if target.registration_job_id is not None:
            failed += _fail_queued(
                session, [target.registration_job_id], _removed_error(target), now
            )
    # A commitment another live version shares still names a servable circuit: its proofs stay.
    kept = {v.commitment for v in versions if v not in targets}
    for target in targets:
        if target.commitment is None or target.commitment in kept:
            continue
        queued = session.all(
            "SELECT id, payload FROM jobs WHERE model_name = ? AND kind = 'prove' "
            f"AND state = 'queued' {session.backend.lock_rows}",
            (name,),
        )
        ids = [
            row["id"]
            for row in queued
            if json.loads(row["payload"]).get("commitment") == target.commitment
        ]
        failed += _fail_queued(session, ids, _removed_error(target), now)
    return Removal(removed=targets, failed_jobs=failed)


def _fail_queued(session: Session, job_ids: list[str], error: str, now: float) -> list[str]:
    failed = []
    for job_id in job_ids:
        if session.run(
            "UPDATE jobs SET state = 'failed', error = ?, updated_at = ? "
            "WHERE id = ? AND state = 'queued'",
            (error, now, job_id),
        ):
            failed.append(job_id)
    return failed


def _removed_error(record: ModelRecord) -> str:
    return (
        f"model {record.name!r} version {record.version} "
        f"({record.commitment or record.state}) was removed before this job ran; "
        "`zkgate models list` shows the versions that remain"
    )
