"""The database setting shared by `zkgate serve` and the prover workers.

Empty means SQLite in DATA_DIR; a postgresql:// URL means PostgreSQL. The URL holds a password,
so it comes from the environment (ZKGATE_DATABASE_URL) or from a file (a mounted secret), never
from a flag: command lines are readable by every user of the machine (ps, /proc/PID/cmdline).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zkgate.prover.data_directory import DataLayout
from zkgate.prover.queue.database import Database
from zkgate.prover.queue.postgres_backend import is_postgres_url

DATABASE_URL_ENV = "ZKGATE_DATABASE_URL"
DATABASE_URL_FILE_ENV = "ZKGATE_DATABASE_URL_FILE"


class _RefusedOnCommandLine(argparse.Action):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        parser.error(
            f"{option_string} is not accepted: a password on the command line is visible to "
            f"every user of the machine. Set {DATABASE_URL_ENV}, or put the URL in a file and "
            f"pass --database-url-file (or {DATABASE_URL_FILE_ENV})"
        )


def add_database_arguments(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    parser.add_argument("--database-url", action=_RefusedOnCommandLine, help=argparse.SUPPRESS)
    parser.add_argument(
        "--database-url-file",
        default=environ.get(DATABASE_URL_FILE_ENV),
        help=f"a file holding the postgresql:// URL (or set {DATABASE_URL_ENV}); "
        "unset: SQLite in the data directory",
    )
    parser.set_defaults(database_url_from_environment=environ.get(DATABASE_URL_ENV, ""))


def database_url_from_args(args: argparse.Namespace) -> str:
    """The URL from a parser that add_database_arguments set up; "" for SQLite."""
    return read_database_url(args.database_url_file, args.database_url_from_environment)


def read_database_url(url_file: str | None, from_environment: str) -> str:
    """The configured URL, checked; "" for SQLite. from_environment: ZKGATE_DATABASE_URL."""
    if url_file and from_environment:
        raise ValueError(
            f"both {DATABASE_URL_ENV} and a database URL file are set; use one of them"
        )
    url = from_environment
    if url_file:
        try:
            url = Path(url_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read the database URL file {url_file}: {exc}") from exc
        if not url:
            raise ValueError(f"the database URL file {url_file} is empty")
    return check_database_url(url)


def check_database_url(url: str) -> str:
    if url and not is_postgres_url(url):
        # The URL itself is not quoted: it may hold a password.
        raise ValueError(
            "the database URL must start with postgresql:// (or be empty for SQLite in the "
            "data directory)"
        )
    return url


def open_database(url: str, data_dir: Path) -> Database:
    return Database(url or DataLayout(data_dir).database)


def child_environment(url: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for a prover process started by the gateway: the URL travels there,
    not in its argv."""
    child = {k: v for k, v in environ.items() if k not in (DATABASE_URL_ENV, DATABASE_URL_FILE_ENV)}
    if url:
        child[DATABASE_URL_ENV] = url
    return child
