"""PostgreSQL: one database shared by many gateway replicas and prover nodes.

Transactions run at READ COMMITTED. Concurrency comes from row locks: claims take the oldest
free job with ``FOR UPDATE SKIP LOCKED``, so claimers never wait on each other, and work that
must see a stable table (enqueue's queue-limit count, schema migrations) takes a transaction-
level advisory lock by name.
"""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from zkgate.prover.queue.sql_session import Connection, Session

# A server that does not answer within this is treated as down; the caller retries.
CONNECT_TIMEOUT_SECONDS = 5


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


class PostgresBackend:
    begin = "BEGIN"
    lock_rows = "FOR UPDATE"
    skip_locked = "FOR UPDATE SKIP LOCKED"
    # OperationalError covers a lost connection, a server shutting down or starting up, and a
    # deadlock victim: each leaves the transaction rolled back.
    retryable_errors: tuple[type[Exception], ...] = (psycopg.OperationalError,)

    def __init__(self, url: str) -> None:
        if not is_postgres_url(url):
            raise ValueError("a PostgreSQL database URL starts with postgresql:// or postgres://")
        self._url = url
        self.description = _describe(url)

    def connect(self) -> Connection:
        # autocommit: a read is one statement; Database opens write transactions with BEGIN.
        return psycopg.connect(
            self._url,
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name="zkgate",
        )

    def placeholders(self, sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def serialize(self, session: Session, name: str) -> None:
        session.one("SELECT pg_advisory_xact_lock(hashtext(?))", (name,))

    def legacy_schema_version(self, session: Session) -> int:
        """PostgreSQL support began with the schema_version table."""
        return 0


def _describe(url: str) -> str:
    """The URL without its credentials, fit for logs and error messages."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        # from None: the parser's message may quote the password.
        raise ValueError("the PostgreSQL database URL is malformed") from None
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    return f"postgresql://{host}:{port}/{parts.get('dbname') or ''}"
