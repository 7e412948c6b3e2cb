"""Production shape: two gateways and three provers on one PostgreSQL and one shared data
directory. Every job finishes exactly once with exactly one stored proof, under load and through
faults: a prover killed mid-proof, a gateway killed, PostgreSQL restarted. Each fault test counts
jobs and proofs before and after."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import psycopg
import pytest

from tests.fixtures.gateway_fixtures import (
    DIGITS,
    RegisteredModel,
    RunningGateway,
    RunningProver,
    free_port,
    register,
)
from tests.fixtures.postgres_fixtures import PostgresServer
from zkgate.client import Client, Prediction
from zkgate.wire import zkgate_pb2 as pb

LEASE_SECONDS = 3.0
PROVERS = 3


@dataclass
class Cluster:
    data_dir: Path
    database_url: str
    gateways: list[RunningGateway]
    provers: list[RunningProver]
    model: RegisteredModel

    def client(self, index: int) -> Client:
        return self.gateways[index].client()


@dataclass(frozen=True)
class Tally:
    """Prove jobs by id with (state, attempts), and the proofs in the shared store."""

    jobs: dict[str, tuple[str, int]]
    proof_digests_of_jobs: dict[str, str]
    stored_proofs: set[str]

    def check_exactly_once(self) -> None:
        assert all(state == "succeeded" for state, _ in self.jobs.values()), self.jobs
        assert set(self.proof_digests_of_jobs) == set(self.jobs)
        assert len(set(self.proof_digests_of_jobs.values())) == len(self.jobs)
        assert set(self.proof_digests_of_jobs.values()) == self.stored_proofs, (
            "every stored proof belongs to exactly one job, and every job has its proof"
        )


def _tally(cluster: Cluster) -> Tally:
    with psycopg.connect(cluster.database_url) as conn:
        rows = conn.execute(
            "SELECT id, state, attempts, result FROM jobs WHERE kind = 'prove'"
        ).fetchall()
    stored = set()
    for path in (cluster.data_dir / "artifacts").rglob("*"):
        if path.is_file() and path.stat().st_size < 1_000_000:
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                content = json.loads(path.read_bytes())
                if isinstance(content, dict) and {"proof", "instances"} <= content.keys():
                    stored.add(path.parent.name + path.name)
    return Tally(
        jobs={job_id: (state, attempts) for job_id, state, attempts, _ in rows},
        proof_digests_of_jobs={
            job_id: json.loads(result)["proof_digest"] for job_id, _, _, result in rows if result
        },
        stored_proofs=stored,
    )


@pytest.fixture(scope="module")
def cluster(
    postgres_module_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    data_dir = tmp_path_factory.mktemp("shared-data")
    gateways = []
    for name in ("gateway-a", "gateway-b"):
        gateway = RunningGateway(
            data_dir=data_dir,
            port=free_port(),
            workers=0,
            lease_seconds=LEASE_SECONDS,
            max_message_bytes=8 * 1024 * 1024,
            env={"ZKGATE_DATABASE_URL": postgres_module_url},
        )
        gateway.log_path = data_dir / f"{name}.log"
        gateways.append(gateway)
    provers = [
        RunningProver(
            f"prover-{n}",
            data_dir,
            lease_seconds=LEASE_SECONDS,
            env={"ZKGATE_DATABASE_URL": postgres_module_url},
        )
        for n in range(PROVERS)
    ]
    running = Cluster(data_dir, postgres_module_url, gateways, provers, RegisteredModel("", ""))
    try:
        # One after the other: the first creates the schema and the shared signing key.
        for gateway in gateways:
            gateway.start()
        for prover in provers:
            prover.start()
        with running.client(0) as client:
            running.model = register(client, "digits", DIGITS / "model.onnx")
        yield running
    finally:
        for gateway in gateways:
            gateway.stop()
        for prover in provers:
            prover.stop()


@pytest.fixture(scope="module")
def inputs() -> Iterator[Callable[[], np.ndarray]]:
    """A fresh input each call: the same input would map to the same (idempotent) job."""
    pool = iter(np.asarray(np.load(DIGITS / "test_inputs.npy")))

    def take() -> np.ndarray:
        return next(pool)

    yield take


def _prove(cluster: Cluster, gateway: int, x: np.ndarray) -> Prediction:
    with cluster.client(gateway) as client:
        prediction = client.infer(cluster.model.name, {"input": x}, prove=True)
    assert prediction.job_id
    return prediction


def _finish_and_verify(cluster: Cluster, gateway: int, predictions: list[Prediction]) -> None:
    with cluster.client(gateway) as client:
        for prediction in predictions:
            assert prediction.job_id is not None
            proof = client.wait_for_proof(prediction.job_id, timeout=300)
            verified = client.verify(
                prediction,
                proof,
                pinned_commitment=cluster.model.commitment,
                allow_insecure_srs=True,
            )
            assert verified.commitment == cluster.model.commitment


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_every_job_finishes_exactly_once_under_concurrent_load(
    cluster: Cluster, inputs: Callable[[], np.ndarray]
) -> None:
    requests = [(n % 2, inputs()) for n in range(24)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        predictions = list(pool.map(lambda r: _prove(cluster, *r), requests))
    assert len({p.job_id for p in predictions}) == 24

    # Each gateway reports on the jobs the other one took in.
    _finish_and_verify(cluster, 1, predictions[0::2])
    _finish_and_verify(cluster, 0, predictions[1::2])

    tally = _tally(cluster)
    assert set(tally.jobs) == {p.job_id for p in predictions}
    assert all(attempts == 1 for _, attempts in tally.jobs.values()), tally.jobs
    tally.check_exactly_once()
    with psycopg.connect(cluster.database_url) as conn:
        workers = conn.execute("SELECT COUNT(DISTINCT lease_owner) FROM jobs").fetchone()
    assert workers is not None and workers[0] >= 2, "the provers never shared the work"


def test_a_prover_killed_mid_proof_loses_nothing(
    cluster: Cluster, inputs: Callable[[], np.ndarray]
) -> None:
    before = _tally(cluster)
    prediction = _prove(cluster, 0, inputs())

    def owner() -> str | None:
        with psycopg.connect(cluster.database_url) as conn:
            row = conn.execute(
                "SELECT lease_owner FROM jobs WHERE id = %s AND state = 'running'",
                (prediction.job_id,),
            ).fetchone()
        return None if row is None else str(row[0])

    _wait_for(lambda: owner() is not None, 60, "a prover to claim the job")
    # A lease owner is the prover's worker id and its lane: prover-1/prove.
    victim = next(p for p in cluster.provers if f"{p.worker_id}/prove" == owner())
    victim.kill()  # kill -9, mid-proof: the worker and its proving child
    _finish_and_verify(cluster, 1, [prediction])

    after = _tally(cluster)
    assert prediction.job_id is not None
    assert set(after.jobs) == set(before.jobs) | {prediction.job_id}
    state, attempts = after.jobs[prediction.job_id]
    assert (state, attempts) == ("succeeded", 2), "claimed again after the lease expired"
    after.check_exactly_once()
    victim.start()


def test_clients_carry_on_through_the_other_gateway_when_one_dies(
    cluster: Cluster, inputs: Callable[[], np.ndarray]
) -> None:
    before = _tally(cluster)
    taken_by_a = [_prove(cluster, 0, inputs()) for _ in range(3)]
    cluster.gateways[0].kill()

    taken_by_b = [_prove(cluster, 1, inputs()) for _ in range(2)]
    _finish_and_verify(cluster, 1, taken_by_a + taken_by_b)
    after = _tally(cluster)
    assert set(after.jobs) == set(before.jobs) | {p.job_id for p in taken_by_a + taken_by_b}
    after.check_exactly_once()

    cluster.gateways[0].start()
    with cluster.client(0) as client:
        assert taken_by_a[0].job_id is not None
        assert client.job(taken_by_a[0].job_id).state == pb.JOB_STATE_SUCCEEDED


def test_the_service_recovers_by_itself_after_postgres_restarts(
    cluster: Cluster, postgres_server: PostgresServer, inputs: Callable[[], np.ndarray]
) -> None:
    before = _tally(cluster)
    known = next(iter(before.jobs))
    postgres_server.stop()
    try:
        with cluster.client(1) as client, pytest.raises(grpc.RpcError) as outage:
            client.job(known)
        assert outage.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "is unavailable" in str(outage.value.details())
    finally:
        postgres_server.start()

    # No process was restarted: gateways and provers reconnect on their own.
    predictions = [_prove(cluster, n % 2, inputs()) for n in range(4)]
    _finish_and_verify(cluster, 0, predictions)
    after = _tally(cluster)
    assert set(after.jobs) == set(before.jobs) | {p.job_id for p in predictions}
    after.check_exactly_once()
    assert all(p.poll() is None for p in (prover.process for prover in cluster.provers) if p)
