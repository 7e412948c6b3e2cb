"""Health, reflection and identity: what operators and generic tools see of the gateway."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.fixtures.gateway_fixtures import RegisteredModel, RunningGateway
from zkgate.wire import zkgate_pb2 as pb
from zkgate.wire import zkgate_pb2_grpc


@pytest.fixture(scope="module")
def channel(gateway: RunningGateway) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(gateway.target) as ch:
        yield ch


def test_health_reports_serving_per_service(channel: grpc.Channel) -> None:
    stub: Any = health_pb2_grpc.HealthStub(channel)
    for service in (
        "",
        "zkgate.v1.ModelService",
        "zkgate.v1.ProofService",
        "inference.GRPCInferenceService",
    ):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, service


def test_reflection_lists_the_services(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (reply,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    names = {s.name for s in reply.list_services_response.service}
    assert {
        "zkgate.v1.ModelService",
        "zkgate.v1.ProofService",
        "grpc.health.v1.Health",
        "inference.GRPCInferenceService",
    } <= names


def test_identity_and_catalogue(channel: grpc.Channel, digits: RegisteredModel) -> None:
    stub = zkgate_pb2_grpc.ModelServiceStub(channel)
    identity = stub.GetServerIdentity(pb.GetServerIdentityRequest(), timeout=10)
    assert len(bytes.fromhex(identity.receipt_public_key)) == 32
    assert identity.ezkl_version == "23.0.5"
    models = {m.name: m for m in stub.ListModels(pb.ListModelsRequest(), timeout=10).models}
    assert models[digits.name].state == pb.MODEL_STATE_READY
    assert models[digits.name].commitment == digits.commitment
