"""The verifier-only install stays light: zkgate-client pulls in neither onnxruntime nor torch."""

from __future__ import annotations

import re
from importlib.metadata import requires


def _names(distribution: str) -> set[str]:
    return {
        re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() for r in requires(distribution) or []
    }


def test_client_needs_neither_onnxruntime_nor_torch() -> None:
    client = _names("zkgate-client")
    assert {"grpcio", "protobuf", "numpy", "ezkl", "cryptography"} <= client
    assert not client & {"onnxruntime", "torch", "onnx"}


def test_prover_and_gateway_build_on_the_client() -> None:
    assert "zkgate-client" in _names("zkgate-prover")
    assert {"zkgate-client", "zkgate-prover", "onnxruntime"} <= _names("zkgate-gateway")
    assert "torch" not in _names("zkgate-prover") | _names("zkgate-gateway")


def test_proof_of_learning_is_its_own_distribution_on_pinned_torch() -> None:
    assert "torch==2.13.0" in (requires("zkgate-pol") or [])
    assert "zkgate-pol" not in _names("zkgate-client") | _names("zkgate-gateway")
    # Provers carry it only when asked to verify proofs-of-learning.
    pol_requirements = [r for r in requires("zkgate-prover") or [] if r.startswith("zkgate-pol")]
    assert pol_requirements and all('extra == "learning"' in r for r in pol_requirements)
