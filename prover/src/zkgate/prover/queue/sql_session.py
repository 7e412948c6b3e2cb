"""What the job queue and the model catalogue need from a SQL database, so that their logic is
written once and only what truly differs between SQLite and PostgreSQL lives in a backend.

Statements are written once, in the SQL both databases accept, with `?` placeholders; a backend
rewrites the placeholders and fills in the few clauses that differ (row locks, serialization).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

Row = dict[str, Any]


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached (restarting, network down), or the connection broke
    while a transaction committed. Nothing about the data is wrong: the caller may try again."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any], /) -> Cursor: ...

    def close(self) -> None: ...


class Backend(Protocol):
    """The per-database part: connections and the few clauses the two dialects spell apply."""

    # Where the data lives, for messages; never holds a password.
    description: str
    # Starts a read-modify-write transaction.
    begin: str
    # Appended to a SELECT whose rows the transaction then updates: with row locks (PostgreSQL)
    # a concurrent writer waits for the first to commit; SQLite's write lock covers the file.
    lock_rows: str
    # Like lock_rows, but rows another transaction holds are passed over instead of waited for,
    # so concurrent claimers each take a different job.
    skip_locked: str
    # Errors after which the transaction was rolled back and may be run again on a new
    # connection (a lost connection, a restarting server, a deadlock victim).
    retryable_errors: tuple[type[Exception], ...]

    def connect(self) -> Connection: ...

    def placeholders(self, sql: str) -> str:
        """sql with its `?` placeholders in the driver's style."""
        ...

    def serialize(self, session: Session, name: str) -> None:
        """Makes transactions that call this with the same name run one at a time."""
        ...

    def legacy_schema_version(self, session: Session) -> int:
        """A schema version recorded before the schema_version table existed; 0 if none."""
        ...


class Session:
    """One connection, inside a transaction or (for reads) in autocommit."""

    def __init__(self, connection: Connection, backend: Backend) -> None:
        self._connection = connection
        self.backend = backend

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row = self._execute(sql, params).fetchone()
        return None if row is None else dict(row)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [dict(row) for row in self._execute(sql, params).fetchall()]

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Runs a statement that returns no rows; returns how many rows it changed."""
        return self._execute(sql, params).rowcount

    def _execute(self, sql: str, params: Sequence[Any]) -> Cursor:
        return self._connection.execute(self.backend.placeholders(sql), params)
