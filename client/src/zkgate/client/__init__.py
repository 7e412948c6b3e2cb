"""zkgate light client: get predictions from a gateway and check their proofs locally.

Trust is established only in `verify`, against a model commitment the caller pinned; nothing the
gateway returns is believed before that.
"""

from zkgate.client.accuracy import AccuracyCertificate
from zkgate.client.accuracy_verification import AccuracyError, VerifiedAccuracy, verify_accuracy
from zkgate.client.bundle import VerifierBundle
from zkgate.client.connection import Client, ProofJobFailed
from zkgate.client.prediction import Prediction
from zkgate.client.test_set import TestSet
from zkgate.client.verification import Reason, VerificationError, VerifiedPrediction, verify

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
