"""zkgate light client: get predictions from a gateway and check their proofs locally.

Trust is established only in `verify`, against a model commitment the caller pinned; nothing the
gateway returns is believed before that.
"""

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
