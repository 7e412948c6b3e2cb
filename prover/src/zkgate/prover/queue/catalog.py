"""The model catalogue: which models exist, their versions, where each registration stands, and
their cards.

Rows live in the shared database next to the jobs, so a registration job running in a
prover process and the gateway answering ModelReady see the same state.

A name holds versions. Each registration of a name with something new (another ONNX,
calibration, policy or circuit setting) is a new version, numbered per name (1, 2, ...; a
number is never reused, so an alias always means the same registration) and, once ready, known
by its commitment, the version id receipts and proofs name. One version per name serves requests
that name no version: the one an operator pinned (set_default), else the newest ready one.
Removed versions stay as rows with removed_at set, hidden from every read here, until the sweep
(queue/artifact_sweep.py) has deleted their artifacts.
"""

from __future__ import annotations

import builtins
import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from zkgate.core.canonical import canonical_json
from zkgate.core.documents import quote
from zkgate.prover.artifacts.digests import validate_digest
from zkgate.prover.queue.database import Database
from zkgate.prover.queue.sql_session import Row, Session

_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_LIVE = "removed_at IS NULL"


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
    """One version of a model."""

    name: str
    state: ModelState
    policy: ProofPolicy
    onnx_digest: str
    calibration_digest: str
    registration_job_id: str | None
    # The version id, once ready.
    commitment: str | None
    card_json: str | None
    error: str | None
    created_at: float
    updated_at: float
    # The version's number: 1 for the name's first registration, 2 for the next, ...
    version: int = 1
    # Digest of what was registered (see source_digest()); '' for versions made before versions
    # existed.
    source_digest: str = ""
    # Serves requests that name no version.
    is_default: bool = False
    # An operator chose this version with set_default (else the default is the newest ready).
    pinned: bool = False


class ModelNotFound(LookupError):
    pass


class VersionNotFound(ModelNotFound):
    """The model exists, the version asked for does not (never did, or was removed)."""


class ModelExists(ValueError):
    def __init__(self, message: str, *, version: int) -> None:
        """version: the live version that already holds the registration."""
        super().__init__(message)
        self.version = version


class VersionNotReady(RuntimeError):
    """The version exists but is registering or failed, where only a ready one will do."""


class StaleRegistration(RuntimeError):
    """A registration job reported on a version it no longer registers (the old job lost its
    lease, the version failed and was registered again, or it was removed)."""


class VersionRemoved(StaleRegistration):
    """The version was removed while its registration job ran; the job's card was kept so the
    sweep can delete what the job stored."""


def validate_model_name(name: str) -> str:
    if not _MODEL_NAME.fullmatch(name):
        raise ValueError(
            f"invalid model name {quote(name)}: use 1-128 characters from A-Z a-z 0-9 . _ -, "
            "starting with a letter or digit"
        )
    return name


def source_digest(
    *,
    policy: ProofPolicy,
    onnx_digest: str,
    calibration_digest: str,
    settings: Mapping[str, object],
) -> str:
    """What makes two registrations the same one: equal digests mean registering again would
    build the same version, so the catalogue refuses it (ModelExists) and a repository sync
    leaves it alone."""
    identity = {
        "policy": str(ProofPolicy(policy)),
        "onnx_digest": onnx_digest,
        "calibration_digest": calibration_digest,
        "settings": dict(settings),
    }
    return hashlib.sha256(canonical_json(identity)).hexdigest()


class ModelCatalog:
    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def database(self) -> Database:
        """The shared database, for records that live beside the catalogue's."""
        return self._db

    def create(
        self,
        name: str,
        *,
        policy: ProofPolicy,
        onnx_digest: str,
        calibration_digest: str,
        settings: Mapping[str, object] | None = None,
        retry_failed: bool = True,
    ) -> ModelRecord:
        """Starts a registration: a new version of `name`, or, when a failed version holds the
        same source, that version again (same number). A live version with the same source that
        is registering or ready (or failed, unless retry_failed) raises ModelExists.
        `settings`: the registration's circuit settings, part of what makes a version new (see
        source_digest)."""
        validate_model_name(name)
        validate_digest(onnx_digest)
        validate_digest(calibration_digest)
        source = source_digest(
            policy=policy,
            onnx_digest=onnx_digest,
            calibration_digest=calibration_digest,
            settings=settings or {},
        )
        now = time.time()

        def work(session: Session) -> ModelRecord:
            # Serialized per name, so two gateways registering one source at once cannot both
            # make a version, nor two new sources take the same number.
            session.backend.serialize(session, f"zkgate-model:{name}")
            same = session.one(
                f"SELECT version, state FROM model_versions WHERE name = ? AND source_digest = ? "
                f"AND {_LIVE} ORDER BY version DESC",
                (name, source),
            )
            if same is not None and (same["state"] != ModelState.FAILED or not retry_failed):
                raise ModelExists(
                    f"model {name!r} version {same['version']} already holds this ONNX, "
                    f"calibration, policy and settings and is {same['state']}",
                    version=int(same["version"]),
                )
            if same is not None:
                return _register_again(session, name, int(same["version"]), now)
            number = _next_number(session, name)
            session.run(
                """INSERT INTO model_versions (name, version, state, policy, onnx_digest,
                    calibration_digest, source_digest, created_at, updated_at)
                   VALUES (?, ?, 'registering', ?, ?, ?, ?, ?, ?)""",
                (name, number, str(policy), onnx_digest, calibration_digest, source, now, now),
            )
            return _version(session, name, number)

        return self._db.transaction(work)

    def attach_job(self, name: str, job_id: str, *, version: int | None = None) -> None:
        """version: the version the job registers (None: the name's newest)."""

        def work(session: Session) -> None:
            number = version if version is not None else _newest(session, name)
            updated = session.run(
                "UPDATE model_versions SET registration_job_id = ?, updated_at = ? "
                f"WHERE name = ? AND version = ? AND {_LIVE}",
                (job_id, time.time(), name, number),
            )
            if not updated:
                raise VersionNotFound(f"model {name!r} has no version {number}")

        self._db.transaction(work)

    def mark_ready(
        self, name: str, *, commitment: str, card_json: str, job_id: str | None = None
    ) -> ModelRecord:
        """job_id, when given, must be the registration job of a live version of the model
        (StaleRegistration otherwise), so a superseded job cannot overwrite a newer
        registration; without it, the newest version is meant. A version removed while its
        job ran keeps the card (for the sweep) and raises VersionRemoved."""
        return self._update(
            name,
            "state = 'ready', commitment = ?, card_json = ?, error = NULL",
            (commitment, card_json),
            job_id=job_id,
        )

    def mark_failed(self, name: str, error: str, *, job_id: str | None = None) -> ModelRecord:
        return self._update(name, "state = 'failed', error = ?", (error,), job_id=job_id)

    def get(self, name: str, version: str = "") -> ModelRecord:
        """A live version: `version` is its number ("2"), its commitment, or empty for the
        default one (or, while none is ready, the newest). Raises ModelNotFound, or its
        VersionNotFound for a version the model does not have."""
        return self._db.read(lambda s: resolve(live_versions(s, name), name, version))

    def versions(self, name: str) -> builtins.list[ModelRecord]:
        """The model's live versions, oldest first; empty for an unknown model."""
        return self._db.read(lambda s: live_versions(s, name))

    def list(self) -> builtins.list[ModelRecord]:
        """Every live version of every model, by name then version."""
        rows = self._db.read(
            lambda s: s.all(f"SELECT * FROM model_versions WHERE {_LIVE} ORDER BY name, version")
        )
        by_name: dict[str, builtins.list[Row]] = {}
        for row in rows:
            by_name.setdefault(row["name"], []).append(row)
        return [record for group in by_name.values() for record in _records(group)]

    def set_default(self, name: str, version: str) -> ModelRecord:
        """Pins `version` (a number or commitment) as the one served when a request names no
        version; it must be ready. Stays pinned until another is pinned or it is removed."""

        def work(session: Session) -> ModelRecord:
            chosen = resolve(live_versions(session, name), name, version)
            if chosen.state != ModelState.READY:
                raise VersionNotReady(
                    f"model {name!r} version {chosen.version} is {chosen.state}; only a ready "
                    "version can serve by default"
                )
            session.run(
                "UPDATE model_versions SET pinned_default = CASE WHEN version = ? THEN 1 ELSE 0 "
                "END, updated_at = ? WHERE name = ?",
                (chosen.version, time.time(), name),
            )
            return _version(session, name, chosen.version)

        return self._db.transaction(work)

    def _update(
        self, name: str, assignments: str, args: tuple[str, ...], *, job_id: str | None
    ) -> ModelRecord:
        def work(session: Session) -> tuple[ModelRecord, bool]:
            number, removed = _registered_version(session, name, job_id)
            session.run(
                f"UPDATE model_versions SET {assignments}, updated_at = ? "
                "WHERE name = ? AND version = ?",
                (*args, time.time(), name, number),
            )
            if removed:
                row = session.one(
                    "SELECT * FROM model_versions WHERE name = ? AND version = ?", (name, number)
                )
                assert row is not None
                return _records([row])[0], True
            return _version(session, name, number), False

        record, removed = self._db.transaction(work)
        if removed:
            raise VersionRemoved(
                f"model {name!r} version {record.version} was removed while job {job_id} "
                "registered it"
            )
        return record


def live_versions(session: Session, name: str) -> list[ModelRecord]:
    """The model's live versions, oldest first, with the default one marked."""
    rows = session.all(
        f"SELECT * FROM model_versions WHERE name = ? AND {_LIVE} ORDER BY version", (name,)
    )
    return _records(rows)


def resolve(versions: list[ModelRecord], name: str, version: str) -> ModelRecord:
    """The version `version` names among a model's live versions (see ModelCatalog.get)."""
    if not versions:
        raise ModelNotFound(f"no model {name!r}")
    if not version:
        chosen = next((v for v in versions if v.is_default), None)
        return chosen if chosen is not None else versions[-1]
    if version.isdigit():
        matches = [v for v in versions if v.version == int(version)]
    else:
        # Two versions may share a commitment (a new policy over the same circuit): the newer.
        matches = [v for v in versions if v.commitment == version]
    if not matches:
        known = ", ".join(f"{v.version} ({v.commitment or v.state})" for v in versions)
        raise VersionNotFound(
            f"model {name!r} has no version {quote(version)}; its versions: {known}"
        )
    return matches[-1]


def _version(session: Session, name: str, number: int) -> ModelRecord:
    return next(v for v in live_versions(session, name) if v.version == number)


def _newest(session: Session, name: str) -> int:
    row = session.one(
        f"SELECT MAX(version) AS version FROM model_versions WHERE name = ? AND {_LIVE}", (name,)
    )
    if row is None or row["version"] is None:
        raise ModelNotFound(f"no model {name!r}")
    return int(row["version"])


def _registered_version(session: Session, name: str, job_id: str | None) -> tuple[int, bool]:
    """(the version job_id registers, whether it was removed); the newest live version when
    job_id is None."""
    if job_id is None:
        return _newest(session, name), False
    row = session.one(
        f"SELECT version, removed_at FROM model_versions WHERE name = ? "
        f"AND registration_job_id = ? {session.backend.lock_rows}",
        (name, job_id),
    )
    if row is not None:
        return int(row["version"]), row["removed_at"] is not None
    _newest(session, name)  # ModelNotFound for a model with no live version
    raise StaleRegistration(f"job {job_id} no longer registers a version of model {name!r}")


def _records(rows: list[Row]) -> list[ModelRecord]:
    """Records of one model's versions (in version order), the default one marked: the pinned
    ready version, else the newest ready one."""
    ready = [row for row in rows if row["state"] == ModelState.READY]
    pinned = [row for row in ready if row["pinned_default"]]
    default = (pinned or ready)[-1] if ready else None
    return [_record_from_row(row, is_default=row is default) for row in rows]


def _record_from_row(row: Row, *, is_default: bool) -> ModelRecord:
    return ModelRecord(
        name=row["name"],
        version=int(row["version"]),
        state=ModelState(row["state"]),
        policy=ProofPolicy(row["policy"]),
        onnx_digest=row["onnx_digest"],
        calibration_digest=row["calibration_digest"],
        source_digest=row["source_digest"],
        registration_job_id=row["registration_job_id"],
        commitment=row["commitment"],
        card_json=row["card_json"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        is_default=is_default,
        pinned=bool(row["pinned_default"]),
    )


def _register_again(session: Session, name: str, version: int, now: float) -> ModelRecord:
    """A failed version's source sent again: the same number registers anew."""
    session.run(
        """UPDATE model_versions SET state = 'registering', registration_job_id = NULL,
            commitment = NULL, card_json = NULL, error = NULL, created_at = ?,
            updated_at = ? WHERE name = ? AND version = ?""",
        (now, now, name, version),
    )
    return _version(session, name, version)


def _next_number(session: Session, name: str) -> int:
    """Numbers are never reused, removed versions' included: an alias keeps one meaning."""
    top = session.one("SELECT MAX(version) AS version FROM model_versions WHERE name = ?", (name,))
    return 1 if top is None or top["version"] is None else int(top["version"]) + 1
