"""The model catalogue: which models exist, where their registration stands, and their cards.

Rows live in the shared SQLite file next to the jobs, so a registration job running in a
prover process and the gateway answering ModelReady see the same state.
"""

from __future__ import annotations

import builtins
import re
import sqlite3
import time
from dataclasses import dataclass
from enum import StrEnum

from zkgate.prover.database import Database
from zkgate.prover.store import validate_digest

_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class ModelState(StrEnum):
    REGISTERING = "registering"
    READY = "ready"
    FAILED = "failed"


class ProofPolicy(StrEnum):
    ON_REQUEST = "on_request"
    ALWAYS = "always"
    NEVER = "never"


@dataclass(frozen=True)
class ModelRecord:
    name: str
    state: ModelState
    policy: ProofPolicy
    onnx_digest: str
    calibration_digest: str
    registration_job_id: str | None
    commitment: str | None
    card_json: str | None
    error: str | None
    created_at: float
    updated_at: float


class ModelNotFound(LookupError):
    pass


class ModelExists(ValueError):
    pass


class StaleRegistration(RuntimeError):
    """A registration job reported on a model that has since been registered again by another
    job (the old job lost its lease, or the model failed and was replaced)."""


def validate_model_name(name: str) -> str:
    if not _MODEL_NAME.fullmatch(name):
        raise ValueError(
            f"invalid model name {name!r}: use 1-128 characters from A-Z a-z 0-9 . _ -, "
            "starting with a letter or digit"
        )
    return name


class ModelCatalog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self, name: str, *, policy: ProofPolicy, onnx_digest: str, calibration_digest: str
    ) -> ModelRecord:
        """Starts a registration. A name that failed to register may be reused; one that is
        registering or ready may not (ModelExists)."""
        validate_model_name(name)
        validate_digest(onnx_digest)
        validate_digest(calibration_digest)
        now = time.time()
        with self._db.write() as conn:
            existing = conn.execute("SELECT state FROM models WHERE name = ?", (name,)).fetchone()
            if existing is not None and existing["state"] != ModelState.FAILED:
                raise ModelExists(f"model {name!r} already exists and is {existing['state']}")
            row = conn.execute(
                """INSERT OR REPLACE INTO models (name, state, policy, onnx_digest,
                    calibration_digest, created_at, updated_at)
                   VALUES (?, 'registering', ?, ?, ?, ?, ?) RETURNING *""",
                (name, str(ProofPolicy(policy)), onnx_digest, calibration_digest, now, now),
            ).fetchone()
        return _record_from_row(row)

    def attach_job(self, name: str, job_id: str) -> None:
        with self._db.write() as conn:
            self._update(conn, name, "registration_job_id = ?", (job_id,), job_id=None)

    def mark_ready(
        self, name: str, *, commitment: str, card_json: str, job_id: str | None = None
    ) -> ModelRecord:
        """job_id, when given, must be the model's attached registration job (StaleRegistration
        otherwise), so a superseded job cannot overwrite a newer registration."""
        with self._db.write() as conn:
            return self._update(
                conn,
                name,
                "state = 'ready', commitment = ?, card_json = ?, error = NULL",
                (commitment, card_json),
                job_id=job_id,
            )

    def mark_failed(self, name: str, error: str, *, job_id: str | None = None) -> ModelRecord:
        with self._db.write() as conn:
            return self._update(conn, name, "state = 'failed', error = ?", (error,), job_id=job_id)

    def get(self, name: str) -> ModelRecord:
        row = self._db.connection().execute("SELECT * FROM models WHERE name = ?", (name,))
        found = row.fetchone()
        if found is None:
            raise ModelNotFound(f"no model {name!r}")
        return _record_from_row(found)

    def list(self) -> builtins.list[ModelRecord]:
        rows = self._db.connection().execute("SELECT * FROM models ORDER BY name")
        return [_record_from_row(row) for row in rows]

    @staticmethod
    def _update(
        conn: sqlite3.Connection,
        name: str,
        assignments: str,
        args: tuple[str, ...],
        *,
        job_id: str | None,
    ) -> ModelRecord:
        current = conn.execute(
            "SELECT registration_job_id FROM models WHERE name = ?", (name,)
        ).fetchone()
        if current is None:
            raise ModelNotFound(f"no model {name!r}")
        if job_id is not None and current["registration_job_id"] != job_id:
            raise StaleRegistration(
                f"job {job_id} no longer registers model {name!r} "
                f"(its registration job is {current['registration_job_id']})"
            )
        row = conn.execute(
            f"UPDATE models SET {assignments}, updated_at = ? WHERE name = ? RETURNING *",
            (*args, time.time(), name),
        ).fetchone()
        return _record_from_row(row)


def _record_from_row(row: sqlite3.Row) -> ModelRecord:
    return ModelRecord(
        name=row["name"],
        state=ModelState(row["state"]),
        policy=ProofPolicy(row["policy"]),
        onnx_digest=row["onnx_digest"],
        calibration_digest=row["calibration_digest"],
        registration_job_id=row["registration_job_id"],
        commitment=row["commitment"],
        card_json=row["card_json"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
