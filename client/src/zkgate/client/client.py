"""The gRPC client of a zkgate gateway: one object with every call, each group of which lives
with what it is for (`predictions`, `models`, `proof_jobs`, and each protocol's `calls`).

They share one connection (`connection.GatewayConnection`) and reach each other through it, so
a protocol's calls can wait for proof jobs and fetch bundles without knowing the others.
"""

from __future__ import annotations

from zkgate.client.predictions import PredictionCalls
from zkgate.client.proof_jobs import ProofCalls
from zkgate.client.protocols.accuracy.calls import AccuracyCalls
from zkgate.client.protocols.contest.calls import ContestCalls
from zkgate.client.protocols.learning.calls import LearningCalls
from zkgate.client.protocols.retrieval.calls import RetrievalCalls


class Client(
    ContestCalls, AccuracyCalls, RetrievalCalls, LearningCalls, ProofCalls, PredictionCalls
):
    """`Client(target, *, timeout, max_message_bytes, channel, tls, api_key, retries)`; see
    `GatewayConnection`. Nothing it returns is trusted before a `verify...` call checks it."""
