"""The gateway's side of provers sized by memory: a proof job carries its model's measured need,
one that no live prover can hold is refused at enqueue with both figures and the status that
says so, and `zkgate serve`'s embedded provers run lanes and advertise their budget."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import numpy as np
import pytest

from tests.fixtures.gateway_fixtures import RegisteredModel, RunningGateway
from tests.fixtures.prover_fixtures import PROVER_MODEL, ProverNode
from zkgate.core.card import ModelCard
from zkgate.core.tensors import NamedTensor
from zkgate.gateway.assembly import assemble
from zkgate.gateway.config import GatewayConfig
from zkgate.gateway.service import GatewayService
from zkgate.gateway.servicers.status_codes import status_for
from zkgate.prover.memory_sizes import describe_size
from zkgate.prover.queue.database import Database
from zkgate.prover.queue.jobs import JobKind
from zkgate.prover.queue.provers import NoProverCanHold, ProverAdvert, ProverDirectory
from zkgate.prover.worker.memory_budget import default_memory_budget

PROVES = frozenset({JobKind.PROVE})


@pytest.fixture
def service(prover_node: ProverNode, prover_digits: ModelCard) -> GatewayService:
    """A gateway's service on the session prover node's data directory, in this process."""
    return assemble(GatewayConfig(data_dir=prover_node.layout.root, workers=0)).service


@pytest.fixture
def provers(prover_node: ProverNode) -> Iterator[ProverDirectory]:
    directory = ProverDirectory(prover_node.database)
    yield directory
    for prover_id in ("small-node", "large-node"):
        directory.withdraw(prover_id)


def test_a_proof_no_live_prover_can_hold_is_refused_at_enqueue_with_the_figure(
    service: GatewayService,
    provers: ProverDirectory,
    prover_node: ProverNode,
    prover_digits: ModelCard,
    digits_samples: np.ndarray,
) -> None:
    need = prover_digits.prove_peak_rss_bytes
    assert need is not None
    inputs = [NamedTensor.of("input", digits_samples[7])]
    provers.advertise(ProverAdvert("small-node", need // 2, PROVES), now=time.time())

    with pytest.raises(NoProverCanHold) as refused:
        service.prove_inputs(PROVER_MODEL, inputs)
    message = str(refused.value)
    assert f"a prove job of model {PROVER_MODEL!r} needs {describe_size(need)}" in message
    assert f"the largest memory budget advertised is {describe_size(need // 2)}" in message
    # Sound request, missing capacity that retrying will not bring: not RESOURCE_EXHAUSTED.
    assert status_for(refused.value) == grpc.StatusCode.FAILED_PRECONDITION

    provers.advertise(ProverAdvert("large-node", need, PROVES), now=time.time())
    job = service.prove_inputs(PROVER_MODEL, inputs)
    assert job.memory_bytes == need
    prover_node.queue.cancel(job.id)


def test_embedded_provers_run_both_lanes_and_advertise_their_budget(
    gateway: RunningGateway, digits: RegisteredModel
) -> None:
    database = Database(gateway.data_dir / "zkgate.db")
    try:
        provers = database.read(
            lambda s: s.all("SELECT id, kinds, memory_budget_bytes FROM provers")
        )
        registration = database.read(
            lambda s: s.one(
                "SELECT lease_owner FROM jobs WHERE kind = 'register' AND model_name = ?",
                (digits.name,),
            )
        )
    finally:
        database.close()
    assert provers == [
        {
            "id": "prover-0",
            "kinds": "prove,register",
            "memory_budget_bytes": default_memory_budget(),
        }
    ]
    assert registration == {"lease_owner": "prover-0/register"}


def test_the_gateway_refuses_malformed_prover_settings_at_start() -> None:
    with pytest.raises(ValueError, match="not a job kind"):
        GatewayConfig(prover_lanes="register,verify")
    with pytest.raises(ValueError, match="not a memory size"):
        GatewayConfig(prover_memory_budget="plenty")
    with pytest.raises(ValueError, match="not a memory size"):
        GatewayConfig(standby_memory_budgets="56Gi,lots")
    assert (
        GatewayConfig(standby_memory_budgets="24Gi, 56Gi").standby_memory_budget() == 56 * 1024**3
    )
