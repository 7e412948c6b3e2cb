"""The model catalogue on both backends: a real SQLite file, a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from zkgate.prover.queue.catalog import (
    ModelCatalog,
    ModelExists,
    ModelNotFound,
    ModelState,
    ProofPolicy,
    StaleRegistration,
)
from zkgate.prover.queue.database import Database

ONNX = "0" * 64
CALIBRATION = "1" * 64


@pytest.fixture
def catalog(database_target: Path | str) -> Iterator[ModelCatalog]:
    db = Database(database_target)
    yield ModelCatalog(db)
    db.close()


def _create(catalog: ModelCatalog, name: str = "mlp") -> None:
    catalog.create(
        name, policy=ProofPolicy.ON_REQUEST, onnx_digest=ONNX, calibration_digest=CALIBRATION
    )


def test_create_then_ready(catalog: ModelCatalog) -> None:
    created = catalog.create(
        "mlp", policy=ProofPolicy.ALWAYS, onnx_digest=ONNX, calibration_digest=CALIBRATION
    )
    assert (created.state, created.policy, created.registration_job_id) == (
        ModelState.REGISTERING,
        ProofPolicy.ALWAYS,
        None,
    )
    catalog.attach_job("mlp", "job-1")
    ready = catalog.mark_ready("mlp", commitment="c0ffee", card_json="{}", job_id="job-1")
    assert (ready.state, ready.commitment, ready.card_json, ready.registration_job_id) == (
        ModelState.READY,
        "c0ffee",
        "{}",
        "job-1",
    )
    assert ready.updated_at >= created.updated_at
    assert catalog.get("mlp") == ready


def test_failed_registration_can_be_replaced(catalog: ModelCatalog) -> None:
    _create(catalog)
    catalog.attach_job("mlp", "job-1")
    failed = catalog.mark_failed("mlp", "unsupported op: Loop")
    assert (failed.state, failed.error) == (ModelState.FAILED, "unsupported op: Loop")

    replaced = catalog.create(
        "mlp", policy=ProofPolicy.NEVER, onnx_digest="2" * 64, calibration_digest=CALIBRATION
    )
    assert (replaced.state, replaced.policy, replaced.onnx_digest) == (
        ModelState.REGISTERING,
        ProofPolicy.NEVER,
        "2" * 64,
    )
    assert (replaced.error, replaced.registration_job_id, replaced.commitment) == (None, None, None)


def test_superseded_registration_job_cannot_report(catalog: ModelCatalog) -> None:
    _create(catalog)
    catalog.attach_job("mlp", "job-2")
    with pytest.raises(StaleRegistration, match="job-1"):
        catalog.mark_ready("mlp", commitment="old", card_json="{}", job_id="job-1")
    with pytest.raises(StaleRegistration):
        catalog.mark_failed("mlp", "late failure", job_id="job-1")
    assert catalog.get("mlp").state is ModelState.REGISTERING


@pytest.mark.parametrize("finish", ["registering", "ready"])
def test_model_exists(catalog: ModelCatalog, finish: str) -> None:
    _create(catalog)
    if finish == "ready":
        catalog.mark_ready("mlp", commitment="c", card_json="{}")
    with pytest.raises(ModelExists, match=finish):
        _create(catalog)


@pytest.mark.parametrize(
    "name", ["", "-mlp", ".hidden", "a/b", "../etc", "m l p", "x" * 129, "mlp\n", "模型"]
)
def test_bad_names_are_rejected(catalog: ModelCatalog, name: str) -> None:
    with pytest.raises(ValueError, match="invalid model name"):
        _create(catalog, name)


def test_good_names_are_accepted(catalog: ModelCatalog) -> None:
    for name in ["m", "9", "LeNet-5_v1.2", "x" * 128]:
        _create(catalog, name)
    assert [record.name for record in catalog.list()] == sorted(
        ["m", "9", "LeNet-5_v1.2", "x" * 128]
    )


def test_bad_digest_is_rejected(catalog: ModelCatalog) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        catalog.create(
            "mlp", policy=ProofPolicy.NEVER, onnx_digest="abc", calibration_digest=CALIBRATION
        )


def test_unknown_model(catalog: ModelCatalog) -> None:
    with pytest.raises(ModelNotFound):
        catalog.get("ghost")
    with pytest.raises(ModelNotFound):
        catalog.attach_job("ghost", "job")
    with pytest.raises(ModelNotFound):
        catalog.mark_ready("ghost", commitment="c", card_json="{}")
    with pytest.raises(ModelNotFound):
        catalog.mark_failed("ghost", "error")
    assert catalog.list() == []
