"""The request path's catalogue reads: ready records kept briefly, anything else read fresh."""

from __future__ import annotations

import pytest

from zkgate.gateway.ready_model_cache import ReadyModels
from zkgate.prover.queue.catalog import ModelNotFound, ModelRecord, ModelState, ProofPolicy


def _record(state: ModelState) -> ModelRecord:
    return ModelRecord(
        name="m",
        state=state,
        policy=ProofPolicy.ON_REQUEST,
        onnx_digest="0" * 64,
        calibration_digest="0" * 64,
        registration_job_id="job",
        commitment="c" if state == ModelState.READY else None,
        card_json=None,
        error=None,
        created_at=0.0,
        updated_at=0.0,
    )


class _Catalogue:
    def __init__(self, state: ModelState | None) -> None:
        self.state = state
        self.reads = 0

    def get(self, name: str, version: str = "") -> ModelRecord:
        self.reads += 1
        if self.state is None:
            raise ModelNotFound(name)
        return _record(self.state)


def test_ready_records_are_read_once_per_max_age():
    now = [0.0]
    catalogue = _Catalogue(ModelState.READY)
    ready = ReadyModels(catalogue.get, max_age=2.0, clock=lambda: now[0])
    for _ in range(100):
        assert ready.get("m").state == ModelState.READY
    assert catalogue.reads == 1
    now[0] = 2.5
    ready.get("m")
    assert catalogue.reads == 2


def test_records_that_are_not_ready_are_always_read_fresh():
    catalogue = _Catalogue(ModelState.REGISTERING)
    ready = ReadyModels(catalogue.get)
    assert ready.get("m").state == ModelState.REGISTERING
    catalogue.state = ModelState.READY
    assert ready.get("m").state == ModelState.READY, "a model serves as soon as it is ready"
    catalogue.state = None
    for _ in range(3):
        ready.get("m")  # kept: ready
    assert catalogue.reads == 2
    missing = ReadyModels(_Catalogue(None).get)
    with pytest.raises(ModelNotFound):
        missing.get("m")
