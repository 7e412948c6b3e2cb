"""Model versions, removal and the artifact sweep on both backends (a real SQLite file, a real
PostgreSQL server) with a real directory artifact store.

Versions here are made without a prover (registrations reported by hand, cards left out): what
is under test is the catalogue's bookkeeping; test_model_versions in end_to_end covers the same
with real registrations, cards and proofs.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.queue.artifact_sweep import sweep_removed_artifacts
from zkgate.prover.queue.catalog import (
    ModelCatalog,
    ModelExists,
    ModelNotFound,
    ModelRecord,
    ModelState,
    ProofPolicy,
    VersionNotFound,
    VersionNotReady,
    VersionRemoved,
)
from zkgate.prover.queue.database import MIGRATIONS, Database
from zkgate.prover.queue.jobs import Job, JobKind, JobState
from zkgate.prover.queue.sql_job_queue import SqlJobQueue
from zkgate.prover.queue.version_removal import remove_versions


@dataclass
class Node:
    catalog: ModelCatalog
    queue: SqlJobQueue
    store: ArtifactStore
    database: Database


@pytest.fixture
def node(database_target: Path | str, tmp_path: Path) -> Iterator[Node]:
    db = Database(database_target)
    yield Node(ModelCatalog(db), SqlJobQueue(db), ArtifactStore(tmp_path / "artifacts"), db)
    db.close()


def _register(
    node: Node, name: str, onnx: bytes, calibration: bytes = b"cal", **settings: object
) -> tuple[ModelRecord, Job]:
    """A version as the gateway starts one (uploads stored, job queued and attached)."""
    onnx_digest = node.store.put_bytes(onnx)
    calibration_digest = node.store.put_bytes(calibration)
    record = node.catalog.create(
        name,
        policy=ProofPolicy.ON_REQUEST,
        onnx_digest=onnx_digest,
        calibration_digest=calibration_digest,
        settings=settings,
    )
    job, _ = node.queue.enqueue(
        JobKind.REGISTER,
        name,
        {"onnx_digest": onnx_digest, "calibration_digest": calibration_digest},
        max_attempts=1,
    )
    node.catalog.attach_job(name, job.id, version=record.version)
    return node.catalog.get(name, str(record.version)), job


def _finish(node: Node, job_id: str, name: str, commitment: str) -> None:
    claimed = node.queue.claim("registrar", lease_seconds=60, kinds=[JobKind.REGISTER])
    assert claimed is not None and claimed.id == job_id
    node.catalog.mark_ready(name, commitment=commitment, card_json="", job_id=job_id)
    node.queue.succeed(job_id, "registrar", {"commitment": commitment})


def _ready_version(node: Node, name: str, onnx: bytes, commitment: str, **settings: object) -> int:
    record, job = _register(node, name, onnx, **settings)
    _finish(node, job.id, name, commitment)
    return record.version


def test_each_new_registration_is_a_version_and_the_newest_ready_serves(node: Node) -> None:
    assert _ready_version(node, "m", b"one", "c1") == 1
    second, job = _register(node, "m", b"two")
    assert (second.version, second.state, second.is_default) == (2, ModelState.REGISTERING, False)
    # While version 2 registers, version 1 still serves.
    assert node.catalog.get("m").commitment == "c1"
    _finish(node, job.id, "m", "c2")
    assert (node.catalog.get("m").version, node.catalog.get("m").commitment) == (2, "c2")
    assert node.catalog.get("m", "1").commitment == "c1"
    assert node.catalog.get("m", "c1").version == 1
    # A changed setting is a new version too; the same registration again is refused.
    assert _ready_version(node, "m", b"two", "c3", batch_size=4) == 3
    with pytest.raises(ModelExists, match="version 2 already holds") as exists:
        _register(node, "m", b"two")
    assert exists.value.version == 2
    assert [v.version for v in node.catalog.versions("m")] == [1, 2, 3]


def test_unknown_versions_are_named_with_the_ones_that_exist(node: Node) -> None:
    _ready_version(node, "m", b"one", "c1")
    for version in ("2", "0", "c2", "latest"):
        with pytest.raises(VersionNotFound, match=r"has no version .*its versions: 1 \(c1\)"):
            node.catalog.get("m", version)
    with pytest.raises(ModelNotFound, match="no model 'ghost'"):
        node.catalog.get("ghost", "1")


def test_a_pinned_default_stays_until_another_is_pinned_or_it_is_removed(node: Node) -> None:
    _ready_version(node, "m", b"one", "c1")
    _ready_version(node, "m", b"two", "c2")
    pinned = node.catalog.set_default("m", "1")
    assert (pinned.version, pinned.is_default, pinned.pinned) == (1, True, True)
    _ready_version(node, "m", b"three", "c3")
    assert node.catalog.get("m").version == 1, "a newer version does not displace a pin"
    _register(node, "m", b"four")
    with pytest.raises(VersionNotReady, match="version 4 is registering"):
        node.catalog.set_default("m", "4")
    assert node.catalog.get("m").version == 1
    remove_versions(node.database, "m", "1")
    assert node.catalog.get("m").version == 3, "back to the newest ready version"


def test_failed_versions_are_retried_in_place_unless_asked_not_to(node: Node) -> None:
    record, job = _register(node, "m", b"bad")
    node.catalog.mark_failed("m", "unsupported op: Loop", job_id=job.id)
    assert node.catalog.get("m").state == ModelState.FAILED
    with pytest.raises(ModelExists, match="is failed"):
        node.catalog.create(
            "m",
            policy=ProofPolicy.ON_REQUEST,
            onnx_digest=record.onnx_digest,
            calibration_digest=record.calibration_digest,
            retry_failed=False,
        )
    again, _ = _register(node, "m", b"bad")
    assert (again.version, again.state, again.error) == (1, ModelState.REGISTERING, None)


def test_removal_fails_the_queued_jobs_of_removed_versions_only(node: Node) -> None:
    _ready_version(node, "m", b"one", "c1")
    _ready_version(node, "m", b"two", "c2")
    registering, registration = _register(node, "m", b"three")
    proofs = {
        commitment: node.queue.enqueue(JobKind.PROVE, "m", {"commitment": commitment})[0]
        for commitment in ("c1", "c2")
    }
    removal = remove_versions(node.database, "m", "c2")
    assert [r.version for r in removal.removed] == [2]
    assert removal.failed_jobs == [proofs["c2"].id]
    failed = node.queue.get(proofs["c2"].id)
    assert failed.state == JobState.FAILED
    assert failed.error == (
        "model 'm' version 2 (c2) was removed before this job ran; `zkgate models list` shows "
        "the versions that remain"
    )
    assert node.queue.get(proofs["c1"].id).state == JobState.QUEUED
    with pytest.raises(VersionNotFound):
        node.catalog.get("m", "2")

    # Removing a registering version fails its queued registration job.
    removal = remove_versions(node.database, "m", str(registering.version))
    assert removal.failed_jobs == [registration.id]
    assert "version 3 (registering) was removed" in (node.queue.get(registration.id).error or "")
    with pytest.raises(VersionNotFound):
        remove_versions(node.database, "m", "2")
    assert [v.version for v in node.catalog.versions("m")] == [1]


def test_a_registration_that_finishes_after_its_version_was_removed_is_stale(node: Node) -> None:
    _, job = _register(node, "m", b"one")
    claimed = node.queue.claim("registrar", lease_seconds=60, kinds=[JobKind.REGISTER])
    assert claimed is not None
    remove_versions(node.database, "m")
    with pytest.raises(VersionRemoved, match="was removed while job"):
        node.catalog.mark_ready("m", commitment="c1", card_json="", job_id=job.id)
    with pytest.raises(ModelNotFound):
        node.catalog.get("m")
    # The name is free for a new version, numbered after the removed one.
    assert _ready_version(node, "m", b"two", "c2") == 2


def test_the_sweep_deletes_only_what_nothing_else_references(node: Node) -> None:
    shared_onnx = b"the same ONNX under two names"
    _ready_version(node, "a", shared_onnx, "ca")
    _ready_version(node, "b", shared_onnx, "cb")
    _ready_version(node, "a", b"only a's second version", "ca2")
    own_calibration = node.store.put_bytes(b"cal")  # every version's calibration here
    onnx_a2 = node.catalog.get("a", "2").onnx_digest
    shared = node.catalog.get("a", "1").onnx_digest

    remove_versions(node.database, "a")
    report = sweep_removed_artifacts(node.database, node.store)
    assert (report.deleted, report.waiting) == (1, [])
    assert report.freed_bytes == len(b"only a's second version")
    assert not node.store.exists(onnx_a2)
    assert node.store.exists(shared) and node.store.exists(own_calibration), "b still uses them"
    assert sweep_removed_artifacts(node.database, node.store).deleted == 0, "swept once"

    remove_versions(node.database, "b")
    assert sweep_removed_artifacts(node.database, node.store).deleted == 2
    assert not node.store.exists(shared) and not node.store.exists(own_calibration)


def test_the_sweep_waits_for_running_jobs_and_registrations(node: Node) -> None:
    _ready_version(node, "m", b"one", "c1")
    onnx = node.catalog.get("m").onnx_digest
    proof, _ = node.queue.enqueue(JobKind.PROVE, "m", {"commitment": "c1"})
    claimed = node.queue.claim("prover", lease_seconds=60, kinds=[JobKind.PROVE])
    assert claimed is not None and claimed.id == proof.id

    removal = remove_versions(node.database, "m")
    assert removal.failed_jobs == [], "a running job is left to finish"
    report = sweep_removed_artifacts(node.database, node.store)
    assert (report.deleted, report.waiting) == (0, [f"m 1: job {proof.id} is proving it"])
    assert node.store.exists(onnx)
    node.queue.succeed(proof.id, "prover", {})

    # Any registration under way holds every deletion back: its card is not written yet.
    _register(node, "other", b"two")
    report = sweep_removed_artifacts(node.database, node.store)
    assert report.deleted == 0
    assert report.waiting == ["m 1: model 'other' version 1 is registering"]
    node.catalog.mark_failed("other", "gave up")
    # A version left registering with no job to finish it (its gateway died first) does not.
    node.catalog.create(
        "orphan", policy=ProofPolicy.ON_REQUEST, onnx_digest="2" * 64, calibration_digest="3" * 64
    )
    assert sweep_removed_artifacts(node.database, node.store).deleted == 1
    assert not node.store.exists(onnx)


def test_a_version_5_database_keeps_its_models_as_version_1(database_target: Path | str) -> None:
    """A catalogue the previous release left (one row per name) opened by this one."""
    statements = [s for migration in MIGRATIONS[:5] for s in migration]
    statements += [
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
        "applied_at DOUBLE PRECISION NOT NULL)",
        *(f"INSERT INTO schema_version VALUES ({n}, 0)" for n in range(1, 6)),
        "INSERT INTO models (name, state, policy, onnx_digest, calibration_digest, "
        f"registration_job_id, commitment, card_json, created_at, updated_at) VALUES ('m', "
        f"'ready', 'always', '{'0' * 64}', '{'1' * 64}', 'j', 'c', '{{}}', 1.0, 2.0)",
    ]
    if isinstance(database_target, Path):
        with contextlib.closing(sqlite3.connect(database_target)) as conn, conn:
            for statement in statements:
                conn.execute(statement)
    else:
        with psycopg.connect(database_target) as conn:
            for statement in statements:
                conn.execute(statement)
    db = Database(database_target)
    try:
        record = ModelCatalog(db).get("m", "c")
        assert (record.version, record.state, record.policy, record.is_default) == (
            1,
            ModelState.READY,
            ProofPolicy.ALWAYS,
            True,
        )
        assert json.loads(record.card_json or "") == {}
    finally:
        db.close()
