"""zkgate light client: get predictions from a gateway and check their proofs locally.

Trust is established only in `verify`, against a model commitment the caller pinned; nothing the
gateway returns is believed before that.

The names below are imported on first use (PEP 562): `import zkgate.client.cli.main`, which
every `zkgate` run does, must not pull grpc, numpy and ezkl in through this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zkgate.client.client import Client
    from zkgate.client.proof_jobs import ProofJobFailed
    from zkgate.client.protocols.accuracy.verification import (
        AccuracyError,
        VerifiedAccuracy,
        verify_accuracy,
    )
    from zkgate.client.verification.prediction import VerifiedPrediction, verify
    from zkgate.client.verification.reasons import Reason, VerificationError
    from zkgate.core.bundle import VerifierBundle
    from zkgate.core.held_out_set import TestSet
    from zkgate.core.prediction import Prediction
    from zkgate.core.protocols.accuracy import AccuracyCertificate

_HOMES = {
    "AccuracyCertificate": "zkgate.core.protocols.accuracy",
    "AccuracyError": "zkgate.client.protocols.accuracy.verification",
    "Client": "zkgate.client.client",
    "Prediction": "zkgate.core.prediction",
    "ProofJobFailed": "zkgate.client.proof_jobs",
    "Reason": "zkgate.client.verification.reasons",
    "TestSet": "zkgate.core.held_out_set",
    "VerificationError": "zkgate.client.verification.reasons",
    "VerifiedAccuracy": "zkgate.client.protocols.accuracy.verification",
    "VerifiedPrediction": "zkgate.client.verification.prediction",
    "VerifierBundle": "zkgate.core.bundle",
    "verify": "zkgate.client.verification.prediction",
    "verify_accuracy": "zkgate.client.protocols.accuracy.verification",
}

__all__ = [
    "AccuracyCertificate",
    "AccuracyError",
    "Client",
    "Prediction",
    "ProofJobFailed",
    "Reason",
    "TestSet",
    "VerificationError",
    "VerifiedAccuracy",
    "VerifiedPrediction",
    "VerifierBundle",
    "verify",
    "verify_accuracy",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'zkgate.client' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
