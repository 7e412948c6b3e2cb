"""The PostgreSQL backend beyond the shared queue suite (test_jobs.py, run on both backends):
tenants, model preference and backoff on both backends, migrations, a server restart survived
in place, and the database URL kept off command lines."""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.postgres_fixtures import PostgresServer
from zkgate.gateway.config import GatewayConfig, add_config_arguments, load_config
from zkgate.prover.queue.database import MIGRATIONS, Database
from zkgate.prover.queue.database_settings import child_environment
from zkgate.prover.queue.jobs import JobKind, JobState
from zkgate.prover.queue.sql_job_queue import SqlJobQueue
from zkgate.prover.queue.sql_session import DatabaseUnavailable
from zkgate.prover.worker.process import ConfigError, add_worker_arguments, config_from_args

PASSWORD = "s3cret-pw"


@pytest.fixture
def queue(database_target: Path | str) -> Iterator[SqlJobQueue]:
    db = Database(database_target)
    yield SqlJobQueue(db, retry_backoff_seconds=0.2, max_retry_backoff_seconds=0.5)
    db.close()


def test_idempotency_keys_are_per_tenant(queue: SqlJobQueue) -> None:
    alice, created_a = queue.enqueue(JobKind.PROVE, "m", {}, tenant="alice", idempotency_key="k")
    bob, created_b = queue.enqueue(JobKind.PROVE, "m", {}, tenant="bob", idempotency_key="k")
    again, created_again = queue.enqueue(
        JobKind.PROVE, "m", {}, tenant="alice", idempotency_key="k"
    )
    assert (created_a, created_b, created_again) == (True, True, False)
    assert alice.id != bob.id
    assert again == alice
    assert (alice.tenant, bob.tenant, queue.get(bob.id).tenant) == ("alice", "bob", "bob")


def test_claim_prefers_the_named_models_then_the_oldest(queue: SqlJobQueue) -> None:
    old_other, _ = queue.enqueue(JobKind.PROVE, "other", {})
    cached_1, _ = queue.enqueue(JobKind.PROVE, "cached", {"n": 1})
    cached_2, _ = queue.enqueue(JobKind.PROVE, "cached", {"n": 2})
    order = []
    while (
        job := queue.claim("w", lease_seconds=30, prefer_models=["cached", "absent"])
    ) is not None:
        order.append(job.id)
    assert order == [cached_1.id, cached_2.id, old_other.id]


def test_retry_backoff_doubles_up_to_the_maximum(queue: SqlJobQueue) -> None:
    job, _ = queue.enqueue(JobKind.PROVE, "m", {}, max_attempts=5)
    delays = []
    for _ in range(3):
        while (claimed := queue.claim("w", lease_seconds=30)) is None:
            time.sleep(0.02)
        failed = queue.fail(claimed.id, "w", "OSError: store unreachable", transient=True)
        delays.append(round(failed.available_at - failed.updated_at, 3))
        assert queue.claim("w", lease_seconds=30) is None
    assert delays == [0.2, 0.4, 0.5]
    assert queue.get(job.id).attempts == 3


def test_a_version_1_database_is_migrated_with_its_jobs(database_target: Path | str) -> None:
    legacy_job = ("j1", "prove", "queued", "m", "{}", "key", 0, 3, 1.0, 1.0, 1.0)
    insert = (
        "INSERT INTO jobs (id, kind, state, model_name, payload, idempotency_key, attempts, "
        "max_attempts, queued_at, created_at, updated_at) VALUES "
    )
    if isinstance(database_target, Path):  # SQLite before the table counted in user_version
        with contextlib.closing(sqlite3.connect(database_target)) as conn, conn:
            for statement in MIGRATIONS[0]:
                conn.execute(statement)
            conn.execute(insert + "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", legacy_job)
            conn.execute("PRAGMA user_version = 1")
    else:
        with psycopg.connect(database_target) as conn:
            for statement in MIGRATIONS[0]:
                conn.execute(statement)
            conn.execute(insert + "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", legacy_job)
            conn.execute(
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at "
                "DOUBLE PRECISION NOT NULL)"
            )
            conn.execute("INSERT INTO schema_version VALUES (1, 0)")

    db = Database(database_target)
    assert db.schema_version() == len(MIGRATIONS)
    queue = SqlJobQueue(db)
    migrated = queue.get("j1")
    assert (migrated.tenant, migrated.idempotency_key, migrated.available_at) == ("", "key", 1.0)
    assert queue.enqueue(JobKind.PROVE, "m", {}, idempotency_key="key")[0].id == "j1"
    db.close()


def test_concurrent_starts_migrate_once(postgres_url: str) -> None:
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait(timeout=10)
        try:
            Database(postgres_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    with psycopg.connect(postgres_url) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == list(range(1, len(MIGRATIONS) + 1))


def test_a_restarted_server_is_survived_in_place(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    url = postgres_url.replace("postgres@", f"postgres:{PASSWORD}@")
    queue = SqlJobQueue(Database(url))
    job, _ = queue.enqueue(JobKind.PROVE, "m", {})

    postgres_server.stop()
    try:
        with pytest.raises(DatabaseUnavailable, match="is unavailable") as outage:
            queue.get(job.id)
        assert PASSWORD not in str(outage.value)
        assert f"127.0.0.1:{postgres_server.port}" in str(outage.value)
    finally:
        postgres_server.start()

    # The same objects, whose connection the restart broke, carry on.
    claimed = queue.claim("w", lease_seconds=30)
    assert claimed is not None
    assert queue.succeed(job.id, "w", {}).state is JobState.SUCCEEDED


def _parse_gateway(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    return parser.parse_args(argv)


def _parse_worker(argv: list[str], environ: dict[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_worker_arguments(parser, environ)
    return parser.parse_args(argv)


def test_the_url_is_refused_as_a_flag(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"postgresql://u:{PASSWORD}@db/zkgate"
    for parse in (_parse_gateway, lambda argv: _parse_worker(argv, {})):
        with pytest.raises(SystemExit):
            parse(["--database-url", url])
        message = capsys.readouterr().err
        assert "--database-url is not accepted" in message
        assert "ZKGATE_DATABASE_URL" in message
        assert "--database-url-file" in message


def test_the_url_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    url = f"postgresql://u:{PASSWORD}@db:5433/zkgate"
    secret = tmp_path / "database-url"
    secret.write_text(url + "\n")

    assert load_config(None, {}).database_url == ""
    from_env = load_config(None, {"ZKGATE_DATABASE_URL": url})
    assert from_env.database_url == url
    assert PASSWORD not in repr(from_env)
    from_flag = load_config(_parse_gateway(["--database-url-file", str(secret)]), {})
    assert from_flag.database_url == url
    assert load_config(None, {"ZKGATE_DATABASE_URL_FILE": str(secret)}).database_url == url
    with pytest.raises(ValueError, match="use one of them"):
        load_config(None, {"ZKGATE_DATABASE_URL": url, "ZKGATE_DATABASE_URL_FILE": str(secret)})
    with pytest.raises(ValueError, match="must start with postgresql://") as bad:
        load_config(None, {"ZKGATE_DATABASE_URL": f"mysql://u:{PASSWORD}@db"})
    assert PASSWORD not in str(bad.value)
    with pytest.raises(ValueError, match="must start with postgresql://"):
        GatewayConfig(database_url="zkgate.db")

    worker = config_from_args(
        _parse_worker(["--data-dir", str(tmp_path)], {"ZKGATE_DATABASE_URL": url})
    )
    assert worker.database_url == url
    assert PASSWORD not in repr(worker)
    worker_from_file = config_from_args(
        _parse_worker(["--data-dir", str(tmp_path), "--database-url-file", str(secret)], {})
    )
    assert worker_from_file.database_url == url
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        config_from_args(
            _parse_worker(["--data-dir", str(tmp_path)], {"ZKGATE_DATABASE_URL_FILE": str(empty)})
        )


def test_embedded_provers_get_the_url_in_their_environment() -> None:
    url = f"postgresql://u:{PASSWORD}@db/zkgate"
    parent = {"PATH": "/bin", "ZKGATE_DATABASE_URL_FILE": "/run/secrets/db"}
    assert child_environment(url, parent) == {"PATH": "/bin", "ZKGATE_DATABASE_URL": url}
    assert child_environment("", parent) == {"PATH": "/bin"}
