"""The model catalogue: which models exist, where their registration stands, and their cards.

Rows live in the shared database next to the jobs, so a registration job running in a
prover process and the gateway answering ModelReady see the same state.
"""

from __future__ import annotations

import builtins
import re
import time
from dataclasses import dataclass
from enum import StrEnum

from zkgate.core.documents import quote
from zkgate.prover.artifacts.digests import validate_digest
from zkgate.prover.queue.database import Database
from zkgate.prover.queue.sql_session import Row, Session

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
            f"invalid model name {quote(name)}: use 1-128 characters from A-Z a-z 0-9 . _ -, "
            "starting with a letter or digit"
        )
    return name


class ModelCatalog:
    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def database(self) -> Database:
        """The shared database, for records that live beside the catalogue's."""
        return self._db

    def create(
        self, name: str, *, policy: ProofPolicy, onnx_digest: str, calibration_digest: str
    ) -> ModelRecord:
        """Starts a registration. A name that failed to register may be reused; one that is
        registering or ready may not (ModelExists)."""
        validate_model_name(name)
        validate_digest(onnx_digest)
        validate_digest(calibration_digest)
        now = time.time()

        def work(session: Session) -> Row:
            # The upsert takes the name only if it is free or failed: atomic in both databases,
            # so two gateways registering one name at once cannot both win.
            row = session.one(
                """INSERT INTO models (name, state, policy, onnx_digest, calibration_digest,
                    created_at, updated_at)
                   VALUES (?, 'registering', ?, ?, ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET state = excluded.state,
                    policy = excluded.policy, onnx_digest = excluded.onnx_digest,
                    calibration_digest = excluded.calibration_digest,
                    registration_job_id = NULL, commitment = NULL, card_json = NULL,
                    error = NULL, created_at = excluded.created_at,
                    updated_at = excluded.updated_at
                   WHERE models.state = 'failed'
                   RETURNING *""",
                (name, str(ProofPolicy(policy)), onnx_digest, calibration_digest, now, now),
            )
            if row is not None:
                return row
            existing = session.one("SELECT state FROM models WHERE name = ?", (name,))
            state = existing["state"] if existing else "gone"
            raise ModelExists(f"model {name!r} already exists and is {state}")

        return _record_from_row(self._db.transaction(work))

    def attach_job(self, name: str, job_id: str) -> None:
        self._update(name, "registration_job_id = ?", (job_id,), job_id=None)

    def mark_ready(
        self, name: str, *, commitment: str, card_json: str, job_id: str | None = None
    ) -> ModelRecord:
        """job_id, when given, must be the model's attached registration job (StaleRegistration
        otherwise), so a superseded job cannot overwrite a newer registration."""
        return self._update(
            name,
            "state = 'ready', commitment = ?, card_json = ?, error = NULL",
            (commitment, card_json),
            job_id=job_id,
        )

    def mark_failed(self, name: str, error: str, *, job_id: str | None = None) -> ModelRecord:
        return self._update(name, "state = 'failed', error = ?", (error,), job_id=job_id)

    def get(self, name: str) -> ModelRecord:
        row = self._db.read(lambda s: s.one("SELECT * FROM models WHERE name = ?", (name,)))
        if row is None:
            raise ModelNotFound(f"no model {name!r}")
        return _record_from_row(row)

    def list(self) -> builtins.list[ModelRecord]:
        rows = self._db.read(lambda s: s.all("SELECT * FROM models ORDER BY name"))
        return [_record_from_row(row) for row in rows]

    def _update(
        self, name: str, assignments: str, args: tuple[str, ...], *, job_id: str | None
    ) -> ModelRecord:
        def work(session: Session) -> Row:
            current = session.one(
                f"SELECT registration_job_id FROM models WHERE name = ? "
                f"{session.backend.lock_rows}",
                (name,),
            )
            if current is None:
                raise ModelNotFound(f"no model {name!r}")
            if job_id is not None and current["registration_job_id"] != job_id:
                raise StaleRegistration(
                    f"job {job_id} no longer registers model {name!r} "
                    f"(its registration job is {current['registration_job_id']})"
                )
            row = session.one(
                f"UPDATE models SET {assignments}, updated_at = ? WHERE name = ? RETURNING *",
                (*args, time.time(), name),
            )
            assert row is not None
            return row

        return _record_from_row(self._db.transaction(work))


def _record_from_row(row: Row) -> ModelRecord:
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
