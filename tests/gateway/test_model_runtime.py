"""The gateway's onnxruntime sessions: cached per commitment, dropped once a version is gone."""

from __future__ import annotations

from tests.fixtures.prover_fixtures import ProverNode
from zkgate.core.card import ModelCard
from zkgate.gateway.model_runtime import ModelRuntime


def test_sessions_are_cached_and_dropped_when_their_version_is_not_live(
    prover_node: ProverNode, prover_digits: ModelCard
) -> None:
    runtime = ModelRuntime(prover_node.store, max_batch_rows=4)
    card, text = prover_digits, prover_digits.to_json()
    first = runtime.get(card.commitment, text)
    assert runtime.get(card.commitment, text) is first
    runtime.retain({card.commitment, "ab" * 32})
    assert runtime.get(card.commitment, text) is first
    runtime.retain(set())
    assert runtime.get(card.commitment, text) is not first
