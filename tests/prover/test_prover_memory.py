"""Provers sized by memory, in the queue on both backends (a real SQLite file, a real PostgreSQL
server): claims pass over jobs a budget cannot hold, enqueue refuses a job no live prover can
hold with both figures, adverts count only while they live, and the migration that brought
them keeps the jobs queued before it."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

import psycopg
import pytest

from zkgate.prover.queue.database import MIGRATIONS, Database
from zkgate.prover.queue.jobs import JobKind
from zkgate.prover.queue.provers import (
    LIVENESS_SECONDS,
    NoProverCanHold,
    ProverAdvert,
    ProverDirectory,
)
from zkgate.prover.queue.sql_job_queue import SqlJobQueue

GIB = 1024**3
PROVE_ONLY = frozenset({JobKind.PROVE})


@pytest.fixture
def queue(database: Database) -> SqlJobQueue:
    return SqlJobQueue(database)


def test_a_claim_passes_over_jobs_its_budget_cannot_hold(queue: SqlJobQueue) -> None:
    big, _ = queue.enqueue(JobKind.PROVE, "lenet", {}, memory_bytes=11 * GIB)
    small, _ = queue.enqueue(JobKind.PROVE, "mlp", {}, memory_bytes=GIB // 2)
    unknown, _ = queue.enqueue(JobKind.PROVE, "old-card", {})

    taken = [queue.claim("small", lease_seconds=30, memory_budget=2 * GIB) for _ in range(3)]
    assert [job.id if job else None for job in taken] == [small.id, unknown.id, None]
    large = queue.claim("large", lease_seconds=30, memory_budget=16 * GIB)
    assert large is not None and (large.id, large.memory_bytes) == (big.id, 11 * GIB)


def test_enqueue_refuses_a_job_no_live_prover_can_hold_naming_both_figures(
    database: Database, queue: SqlJobQueue
) -> None:
    provers = ProverDirectory(database)
    now = time.time()
    provers.advertise(ProverAdvert("cpu-0", 2 * GIB, PROVE_ONLY), now=now)
    provers.advertise(ProverAdvert("cpu-1", 4 * GIB, frozenset(JobKind)), now=now)
    # Registrations only: its budget says nothing about who can prove.
    provers.advertise(ProverAdvert("builder", 64 * GIB, frozenset({JobKind.REGISTER})), now=now)

    with pytest.raises(NoProverCanHold) as refused:
        queue.enqueue(JobKind.PROVE, "lenet", {}, memory_bytes=11_703_000_000)
    message = str(refused.value)
    assert "a prove job of model 'lenet' needs 10.9 GiB (11,703,000,000 bytes)" in message
    assert "the largest memory budget advertised is 4.0 GiB (4,294,967,296 bytes)" in message
    assert (refused.value.needed_bytes, refused.value.largest_budget_bytes) == (
        11_703_000_000,
        4 * GIB,
    )
    assert queue.counts()["queued"] == 0

    fits, created = queue.enqueue(JobKind.PROVE, "mlp", {}, memory_bytes=4 * GIB)
    assert created and fits.memory_bytes == 4 * GIB
    assert queue.enqueue(JobKind.PROVE, "old-card", {})[1], "an unknown need goes to anyone"


def test_only_live_adverts_count_and_with_none_a_job_waits(
    database: Database, queue: SqlJobQueue
) -> None:
    provers = ProverDirectory(database)
    now = time.time()
    provers.advertise(ProverAdvert("gone", GIB, PROVE_ONLY), now=now - LIVENESS_SECONDS - 1)
    assert provers.largest_live_budget(JobKind.PROVE, now=now) is None
    # Nothing to judge by (provers starting, or scaled to zero): the job is queued and waits.
    assert queue.enqueue(JobKind.PROVE, "lenet", {}, memory_bytes=11 * GIB)[1]

    provers.advertise(ProverAdvert("gone", GIB, PROVE_ONLY), now=now)  # it came back
    assert provers.largest_live_budget(JobKind.PROVE, now=now) == GIB
    with pytest.raises(NoProverCanHold):
        queue.enqueue(JobKind.PROVE, "lenet-2", {}, memory_bytes=11 * GIB)
    provers.withdraw("gone")
    assert provers.largest_live_budget(JobKind.PROVE, now=now) is None


def test_a_version_4_database_gains_provers_and_keeps_its_jobs_claimable(
    database_target: Path | str,
) -> None:
    """The database as the previous release left it, with a job queued, then opened by this
    one: the job needs unknown memory, so any budget claims it."""
    queued = ("j4", "", "prove", "queued", "m", "{}", 3, 1.0, 1.0, 1.0, 1.0)
    insert = (
        "INSERT INTO jobs (id, tenant, kind, state, model_name, payload, max_attempts, "
        "queued_at, available_at, created_at, updated_at) VALUES "
    )
    version_table = (
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
        "applied_at DOUBLE PRECISION NOT NULL)"
    )
    statements = [s for migration in MIGRATIONS[:4] for s in migration]
    statements += [
        version_table,
        *(f"INSERT INTO schema_version VALUES ({n}, 0)" for n in (1, 2, 3, 4)),
    ]
    if isinstance(database_target, Path):
        with contextlib.closing(sqlite3.connect(database_target)) as conn, conn:
            for statement in statements:
                conn.execute(statement)
            conn.execute(insert + "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", queued)
    else:
        with psycopg.connect(database_target) as conn:
            for statement in statements:
                conn.execute(statement)
            conn.execute(insert + "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", queued)

    db = Database(database_target)
    try:
        assert db.schema_version() == len(MIGRATIONS)
        queue = SqlJobQueue(db)
        assert queue.get("j4").memory_bytes is None
        claimed = queue.claim("w", lease_seconds=30, memory_budget=GIB)
        assert claimed is not None and claimed.id == "j4"
        ProverDirectory(db).advertise(ProverAdvert("p", GIB, PROVE_ONLY), now=time.time())
        assert ProverDirectory(db).largest_live_budget(JobKind.PROVE, now=time.time()) == GIB
    finally:
        db.close()


def test_a_standby_budget_speaks_for_provers_scaled_to_zero(database: Database) -> None:
    """A large pool at zero replicas advertises nothing while a small one runs; the operator's
    standby budget lets its jobs queue for the autoscaler, and nothing larger."""
    queue = SqlJobQueue(database, standby_memory_budget=16 * GIB)
    ProverDirectory(database).advertise(ProverAdvert("cpu-0", 2 * GIB, PROVE_ONLY), now=time.time())
    assert queue.enqueue(JobKind.PROVE, "lenet", {}, memory_bytes=11 * GIB)[1]
    with pytest.raises(NoProverCanHold, match=r"advertised is 16\.0 GiB"):
        queue.enqueue(JobKind.PROVE, "cifar", {}, memory_bytes=90 * GIB)
