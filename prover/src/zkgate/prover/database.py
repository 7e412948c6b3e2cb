"""The one SQLite file that a gateway and its prover worker processes share.

Several processes open the file at once, so every connection runs in WAL mode (readers never
block the single writer) with a busy timeout (a writer waits for the lock instead of failing at
once), and every read-modify-write runs under ``BEGIN IMMEDIATE``: the write lock is taken before
the read, so two processes can never both read the same "free" row and then both take it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000

# Each entry is one schema version, applied in order; the file records how many it has seen in
# PRAGMA user_version. Never edit an entry once released: append a new one.
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
            lease_expires_at REAL,
            queued_at REAL NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
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
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
        """,
    ),
)


class SchemaTooNew(RuntimeError):
    """The file was migrated by a newer release; writing to it with this one could corrupt it."""


class Database:
    """Opens the shared file, migrates it, and hands each thread its own connection.

    sqlite3 connections must not be shared between threads (check_same_thread stays on), and a
    worker's heartbeat thread writes while its main thread runs a job, hence one per thread.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._closed = False
        path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    def connection(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError(f"database {self.path} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A transaction holding the write lock from its first statement (BEGIN IMMEDIATE)."""
        conn = self.connection()
        if conn.in_transaction:
            raise RuntimeError("write transactions do not nest")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        """Closes this thread's connection; other threads' connections close when they end."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        self._closed = True

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: sqlite3 opens no implicit transactions; write() owns them.
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")  # durable at WAL checkpoints; safe in WAL mode
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _migrate(self) -> None:
        with self.write() as conn:
            version: int = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise SchemaTooNew(
                    f"{self.path} has schema version {version}; this release knows up to "
                    f"{len(MIGRATIONS)}"
                )
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switches to WAL, retrying: the switch needs a moment alone with the file, and the busy
    handler does not cover it when another process opens the same new file at the same time."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
            continue
        if mode != "wal":
            raise RuntimeError(f"SQLite refused WAL mode (got {mode!r}); is the file on NFS?")
        return
