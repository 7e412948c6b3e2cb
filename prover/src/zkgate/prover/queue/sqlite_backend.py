"""SQLite: the one file that a gateway and its prover worker processes share on one machine.

Several processes open the file at once, so every connection runs in WAL mode (readers never
block the single writer) with a busy timeout (a writer waits for the lock instead of failing at
once), and every read-modify-write runs under ``BEGIN IMMEDIATE``: the write lock is taken before
the read, so two processes can never both read the same "free" row and then both take it. That
lock covers the whole file, so row locks and named serialization have nothing left to do.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from zkgate.prover.queue.sql_session import Connection, Session

BUSY_TIMEOUT_MS = 10_000


class SqliteBackend:
    begin = "BEGIN IMMEDIATE"
    lock_rows = ""
    skip_locked = ""
    # A busy file already waits out the busy timeout; anything else is not a passing outage.
    retryable_errors: tuple[type[Exception], ...] = ()

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = str(path)
        path.parent.mkdir(parents=True, exist_ok=True)

    def connect(self) -> Connection:
        # isolation_level=None: sqlite3 opens no implicit transactions; Database owns them.
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")  # durable at WAL checkpoints; safe in WAL mode
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def placeholders(self, sql: str) -> str:
        return sql

    def serialize(self, session: Session, name: str) -> None:
        """BEGIN IMMEDIATE already runs write transactions one at a time."""

    def legacy_schema_version(self, session: Session) -> int:
        """Files made before the schema_version table counted their migrations here."""
        row = session.one("PRAGMA user_version")
        assert row is not None
        return int(row["user_version"])


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
