"""The database a gateway and its provers share: SQLite on one machine, PostgreSQL for many.

Whichever process opens it first brings the schema up to date (versioned migrations, applied
one transaction at a time, so concurrent starts cannot race). Work runs as a function of a
Session, which lets a transaction that a lost connection rolled back run again on a new one:
a restarted PostgreSQL costs callers a short wait or a DatabaseUnavailable, never a restart.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from zkgate.prover.queue.postgres_backend import PostgresBackend
from zkgate.prover.queue.sql_session import Backend, Connection, DatabaseUnavailable, Session
from zkgate.prover.queue.sqlite_backend import SqliteBackend

T = TypeVar("T")

# How long an operation keeps retrying a lost database before it reports DatabaseUnavailable.
# Short, because a gRPC call waits on it: the caller hears UNAVAILABLE and retries on its own.
DEFAULT_RETRY_SECONDS = 1.0
_FIRST_RETRY_DELAY = 0.05
_LONGEST_RETRY_DELAY = 0.5

# Each entry is one schema version, applied in order and recorded in schema_version. Never
# change what an entry does once released: append a new one. Types are spelled so that both
# databases accept them; SQLite reads DOUBLE PRECISION as REAL, as version 1 was first written.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
            model_name TEXT NOT NULL,
            payload TEXT NOT NULL,
            idempotency_key TEXT UNIQUE,
            attempts INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
            error TEXT,
            result TEXT,
            lease_owner TEXT,
            lease_expires_at DOUBLE PRECISION,
            queued_at DOUBLE PRECISION NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        )
        """,
        "CREATE INDEX jobs_by_state_and_queue_time ON jobs (state, queued_at)",
        """
        CREATE TABLE models (
            name TEXT PRIMARY KEY,
            state TEXT NOT NULL CHECK (state IN ('registering', 'ready', 'failed')),
            policy TEXT NOT NULL,
            onnx_digest TEXT NOT NULL,
            calibration_digest TEXT NOT NULL,
            registration_job_id TEXT,
            commitment TEXT,
            card_json TEXT,
            error TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        )
        """,
    ),
    # Jobs gain a tenant, which scopes idempotency keys, and available_at, before which a job
    # sent back after a transient failure is not handed out (retry backoff). The table is
    # rebuilt because SQLite cannot drop the old column-level UNIQUE constraint in place.
    (
        """
        CREATE TABLE jobs_v2 (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
            model_name TEXT NOT NULL,
            payload TEXT NOT NULL,
            idempotency_key TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
            error TEXT,
            result TEXT,
            lease_owner TEXT,
            lease_expires_at DOUBLE PRECISION,
            queued_at DOUBLE PRECISION NOT NULL,
            available_at DOUBLE PRECISION NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            UNIQUE (tenant, idempotency_key)
        )
        """,
        """
        INSERT INTO jobs_v2 (id, kind, state, model_name, payload, idempotency_key, attempts,
            max_attempts, error, result, lease_owner, lease_expires_at, queued_at, available_at,
            created_at, updated_at)
        SELECT id, kind, state, model_name, payload, idempotency_key, attempts, max_attempts,
            error, result, lease_owner, lease_expires_at, queued_at, queued_at, created_at,
            updated_at
        FROM jobs
        """,
        "DROP TABLE jobs",
        "ALTER TABLE jobs_v2 RENAME TO jobs",
        "CREATE INDEX jobs_waiting ON jobs (state, available_at)",
        "CREATE INDEX jobs_leased ON jobs (state, lease_expires_at)",
    ),
    # Prove jobs of a model with a batch circuit carry a batch key (model and commitment): a
    # worker proving one of them gathers more queued jobs of the same key into its batch.
    (
        "ALTER TABLE jobs ADD COLUMN batch_key TEXT",
        "CREATE INDEX jobs_batchable ON jobs (batch_key, state, available_at)",
    ),
    # Proof-of-learning: the training policies the gateway signed intents for, and the proofs
    # its provers rejected, so a resubmission after a rejection is visible (learning_ledger.py).
    (
        """
        CREATE TABLE training_policies (
            policy_digest TEXT PRIMARY KEY,
            policy_json TEXT NOT NULL,
            kept_at DOUBLE PRECISION NOT NULL
        )
        """,
        """
        CREATE TABLE learning_rejections (
            job_id TEXT PRIMARY KEY,
            model_name TEXT NOT NULL,
            onnx_digest TEXT NOT NULL,
            owner_public_key TEXT NOT NULL,
            manifest_digest TEXT NOT NULL,
            report_digest TEXT NOT NULL,
            reason TEXT NOT NULL,
            rejected_at DOUBLE PRECISION NOT NULL
        )
        """,
        "CREATE INDEX learning_rejections_by_owner ON learning_rejections (onnx_digest, "
        "owner_public_key)",
    ),
    # Provers sized by memory (provers.py): each live prover advertises its memory budget and
    # the job kinds it takes, and a prove job carries the peak memory its proof needs (NULL:
    # unknown), so a claim takes only jobs the prover can hold.
    (
        """
        CREATE TABLE provers (
            id TEXT PRIMARY KEY,
            memory_budget_bytes BIGINT NOT NULL CHECK (memory_budget_bytes > 0),
            kinds TEXT NOT NULL,
            started_at DOUBLE PRECISION NOT NULL,
            heartbeat_at DOUBLE PRECISION NOT NULL
        )
        """,
        "ALTER TABLE jobs ADD COLUMN memory_bytes BIGINT",
    ),
    # Model versions (catalog.py): a name holds many registrations, each numbered per name
    # (1, 2, ...) and known by its commitment once ready. source_digest identifies what was
    # registered (uploads, policy, settings) so the same registration is not made twice;
    # pinned_default marks a version an operator chose to serve; removed_at hides a removed
    # version while its artifacts wait for the sweep (swept_at). Each existing model becomes
    # its version 1, with an unknown ('') source.
    (
        """
        CREATE TABLE model_versions (
            name TEXT NOT NULL,
            version INTEGER NOT NULL CHECK (version >= 1),
            state TEXT NOT NULL CHECK (state IN ('registering', 'ready', 'failed')),
            policy TEXT NOT NULL,
            onnx_digest TEXT NOT NULL,
            calibration_digest TEXT NOT NULL,
            source_digest TEXT NOT NULL,
            registration_job_id TEXT,
            commitment TEXT,
            card_json TEXT,
            error TEXT,
            pinned_default INTEGER NOT NULL DEFAULT 0,
            removed_at DOUBLE PRECISION,
            swept_at DOUBLE PRECISION,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (name, version)
        )
        """,
        """
        INSERT INTO model_versions (name, version, state, policy, onnx_digest,
            calibration_digest, source_digest, registration_job_id, commitment, card_json, error,
            created_at, updated_at)
        SELECT name, 1, state, policy, onnx_digest, calibration_digest, '', registration_job_id,
            commitment, card_json, error, created_at, updated_at
        FROM models
        """,
        "DROP TABLE models",
        "CREATE INDEX model_versions_by_commitment ON model_versions (commitment)",
        "CREATE INDEX model_versions_by_job ON model_versions (registration_job_id)",
    ),
    # Job progress (job_progress.py, job_listing.py): the stage a running job reports and when
    # it began, when its current attempt started, and an index for a tenant's job listing,
    # newest first.
    (
        "ALTER TABLE jobs ADD COLUMN stage TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE jobs ADD COLUMN stage_started_at DOUBLE PRECISION",
        "ALTER TABLE jobs ADD COLUMN started_at DOUBLE PRECISION",
        "CREATE INDEX jobs_by_tenant ON jobs (tenant, created_at, id)",
    ),
)

_SCHEMA_VERSION_TABLE = """
    CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY,
        applied_at DOUBLE PRECISION NOT NULL
    )
"""


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer release; writing to it with this one could corrupt
    it."""


class Database:
    """One connection per thread, opened on first use and replaced when it breaks.

    sqlite3 connections must not be shared between threads, and a worker's heartbeat thread
    writes while its main thread runs a job; PostgreSQL connections are per thread for the same
    reason (one transaction at a time each).
    """

    def __init__(self, target: Path | str, *, retry_seconds: float = DEFAULT_RETRY_SECONDS) -> None:
        """target: the SQLite file's path, or a postgresql:// URL."""
        self._backend: Backend = (
            SqliteBackend(target) if isinstance(target, Path) else PostgresBackend(target)
        )
        self.description = self._backend.description
        self._retry_seconds = retry_seconds
        self._local = threading.local()
        self._closed = False
        self.transaction(self._migrate)

    def transaction(self, work: Callable[[Session], T]) -> T:
        """Runs work in one read-modify-write transaction. If the connection is lost before the
        commit, the database rolled the transaction back and work runs again on a new one, so
        work must not have effects outside the database."""
        return self._with_retries(work, transaction=True)

    def read(self, work: Callable[[Session], T]) -> T:
        """Runs work outside a transaction: each statement sees what was committed when it ran."""
        return self._with_retries(work, transaction=False)

    def schema_version(self) -> int:
        return self.read(_schema_version)

    def close(self) -> None:
        """Closes this thread's connection; other threads' connections close when they end."""
        self._discard_connection()
        self._closed = True

    def _with_retries(self, work: Callable[[Session], T], *, transaction: bool) -> T:
        if self._closed:
            raise RuntimeError(f"database {self.description} is closed")
        if getattr(self._local, "busy", False):
            raise RuntimeError("database work does not nest")
        delay = _FIRST_RETRY_DELAY
        deadline = time.monotonic() + self._retry_seconds
        self._local.busy = True
        try:
            while True:
                try:
                    return self._attempt(work, transaction=transaction)
                except self._backend.retryable_errors as exc:
                    self._discard_connection()
                    if time.monotonic() + delay > deadline:
                        raise DatabaseUnavailable(
                            f"the database {self.description} is unavailable "
                            f"({_first_line(exc)}); try again shortly"
                        ) from exc
                    time.sleep(delay)
                    delay = min(delay * 2, _LONGEST_RETRY_DELAY)
        finally:
            self._local.busy = False

    def _attempt(self, work: Callable[[Session], T], *, transaction: bool) -> T:
        conn = self._connection()
        session = Session(conn, self._backend)
        if not transaction:
            return work(session)
        conn.execute(self._backend.begin, ())
        try:
            result = work(session)
        except BaseException:
            self._rollback(conn)
            raise
        try:
            conn.execute("COMMIT", ())
        except self._backend.retryable_errors as exc:
            self._discard_connection()
            raise DatabaseUnavailable(
                f"lost the database {self.description} while committing, so the change may or "
                f"may not have been made ({_first_line(exc)})"
            ) from exc
        return result

    def _rollback(self, conn: Connection) -> None:
        try:
            conn.execute("ROLLBACK", ())
        except self._backend.retryable_errors:
            # The connection is gone, and the server rolls back what it had.
            self._discard_connection()

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._backend.connect()
            self._local.conn = conn
        return conn

    def _discard_connection(self) -> None:
        conn: Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(*self._backend.retryable_errors):
                conn.close()

    def _migrate(self, session: Session) -> None:
        self._backend.serialize(session, "zkgate-schema-migration")
        session.run(_SCHEMA_VERSION_TABLE)
        version = _schema_version(session)
        if version > len(MIGRATIONS):
            raise SchemaTooNew(
                f"{self.description} has schema version {version}; this release knows up to "
                f"{len(MIGRATIONS)}"
            )
        for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in statements:
                session.run(statement)
            session.run(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (number, time.time()),
            )


def _schema_version(session: Session) -> int:
    row = session.one("SELECT MAX(version) AS version FROM schema_version")
    recorded = 0 if row is None or row["version"] is None else int(row["version"])
    return max(recorded, session.backend.legacy_schema_version(session))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
