"""Access control on a real gateway over TLS with mTLS: API keys, tenants, rates."""

from __future__ import annotations

import json
import math

import grpc
import numpy as np
import pytest
import torch

from tests.fixtures.access_fixtures import ADMIN_KEY, ALICE_KEY, BOB_KEY, SLOW_KEY
from tests.fixtures.gateway_fixtures import DIGITS
from zkgate.client import Client
from zkgate.core.dataset import Dataset
from zkgate.gateway.access_control import (
    AccessControl,
    RateLimited,
    RateLimiter,
    Tenant,
    TenantDirectory,
    Unauthenticated,
    api_key_digest,
    bearer_token,
)
from zkgate.pol.onnx_binding import export_onnx
from zkgate.wire import zkgate_pb2 as pb
from zkgate.wire import zkgate_pb2_grpc


def _code(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details() or ""


def test_missing_or_unknown_key_is_unauthenticated(secured_gateway):
    with secured_gateway.client(None) as client:
        code, details = _code(client.models)
    assert code == grpc.StatusCode.UNAUTHENTICATED and "authorization: Bearer" in details
    with secured_gateway.client("not-a-key") as client:
        code, details = _code(client.models)
    assert code == grpc.StatusCode.UNAUTHENTICATED and "unknown API key" in details
    with secured_gateway.client(ALICE_KEY) as client:
        assert client.models() == []


def test_only_admins_register_models(secured_gateway):
    with secured_gateway.client(ALICE_KEY) as client:
        code, details = _code(
            lambda: client.register_model("m", DIGITS / "model.onnx", DIGITS / "calibration.npy")
        )
    assert code == grpc.StatusCode.PERMISSION_DENIED and "admin" in details


def test_rate_limit_answers_resource_exhausted(secured_gateway):
    """Inferences spend the tenant's rate (a missing model's too: admission comes first);
    catalogue reads have a budget of their own (tests/gateway/test_rate_limit_retries.py)."""
    x = {"input": np.zeros(4, np.float32)}
    with secured_gateway.client(SLOW_KEY) as client:
        for _ in range(2):
            assert _code(lambda: client.infer("no-such-model", x))[0] == grpc.StatusCode.NOT_FOUND
        code, details = _code(lambda: client.infer("no-such-model", x))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "retry in" in details
    # Other tenants are not slowed by one tenant's limit.
    with secured_gateway.client(ADMIN_KEY) as client:
        for _ in range(5):
            client.models()


def test_plaintext_and_certificate_less_clients_are_refused(secured_gateway):
    with Client(secured_gateway.gateway.target, timeout=5, api_key=ADMIN_KEY) as plaintext:
        code, _ = _code(plaintext.models)
    assert code == grpc.StatusCode.UNAVAILABLE
    with secured_gateway.client(ADMIN_KEY, with_certificate=False) as no_cert:
        code, _ = _code(no_cert.models)
    assert code == grpc.StatusCode.UNAVAILABLE
    # The gateway still serves good clients after the failed handshakes.
    with secured_gateway.client(ADMIN_KEY) as client:
        assert client.models() == []


def test_health_needs_no_key(secured_gateway):
    secured_gateway.gateway.wait_healthy(timeout=5)


def test_token_bucket_refills_at_the_tenant_rate():
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    tenant = Tenant(name="t", requests_per_second=2.0, burst=3)
    for _ in range(3):
        limiter.admit(tenant)
    with pytest.raises(RateLimited, match="retry in 500 ms"):
        limiter.admit(tenant)
    now[0] += 0.5
    limiter.admit(tenant)
    with pytest.raises(RateLimited):
        limiter.admit(tenant)
    limiter.admit(Tenant(name="unlimited", requests_per_second=math.inf))


def test_directory_stores_only_key_digests(tmp_path):
    path = tmp_path / "tenants.json"
    entry = {"name": "a", "key_sha256": [api_key_digest("secret")], "admin": True}
    path.write_text(json.dumps({"tenants": [entry]}))
    directory = TenantDirectory.load(path)
    assert "secret" not in path.read_text()
    assert directory.authenticate("secret").admin
    with pytest.raises(Unauthenticated):
        directory.authenticate("Secret")
    access = AccessControl(directory)
    assert access.admit([("Authorization", "Bearer secret")]).name == "a"
    assert bearer_token([("authorization", b"Bearer  xyz ")]) == "xyz"
    path.write_text('{"tenants": [{"name": "a", "key_sha256": ["abc"]}]}')
    with pytest.raises(ValueError, match="malformed or reused"):
        TenantDirectory.load(path)


@pytest.fixture(scope="module")
def secured_model(secured_gateway):
    """The bundled model, registered by the admin tenant (about 15 s)."""
    with secured_gateway.client(ADMIN_KEY) as client:
        response = client.register_model(
            "digits", DIGITS / "model.onnx", DIGITS / "calibration.npy"
        )
        client.wait_for_job(response.job_id, timeout=600)
        return response.job_id


def test_tenants_see_only_their_own_jobs(secured_gateway, secured_model):
    x = np.load(DIGITS / "test_inputs.npy").astype(np.float32)
    with secured_gateway.client(ALICE_KEY) as alice, secured_gateway.client(BOB_KEY) as bob:
        code, details = _code(lambda: alice.job(secured_model))
        assert code == grpc.StatusCode.PERMISSION_DENIED and "another tenant" in details
        mine = alice.infer("digits", {"input": x[0]}, prove=True)
        assert alice.wait_for_proof(mine.job_id)
        code, _ = _code(lambda: bob.job(mine.job_id))
        assert code == grpc.StatusCode.PERMISSION_DENIED
        code, _ = _code(lambda: bob.wait_for_proof(mine.job_id))
        assert code == grpc.StatusCode.PERMISSION_DENIED
        # The same input from another tenant is another job: no one learns what others asked.
        theirs = bob.infer("digits", {"input": x[0]}, prove=True)
        assert theirs.job_id != mine.job_id
        assert bob.wait_for_proof(theirs.job_id)


def test_tenant_queue_quota(secured_gateway, secured_model):
    """alice may have 2 unfinished proof jobs; the third is refused until they finish."""
    x = np.load(DIGITS / "test_inputs.npy").astype(np.float32)
    with secured_gateway.client(ALICE_KEY) as alice:
        first = alice.infer("digits", {"input": x[10]}, prove=True)
        second = alice.infer("digits", {"input": x[11]}, prove=True)
        code, details = _code(lambda: alice.infer("digits", {"input": x[12]}, prove=True))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "quota" in details
        for prediction in (first, second):
            assert alice.wait_for_proof(prediction.job_id)
        third = alice.infer("digits", {"input": x[12]}, prove=True)
        assert alice.wait_for_proof(third.job_id)


def test_retrieval_datasets_are_the_admins_and_predicates_each_tenants_own(
    secured_gateway, tmp_path
):
    """Only an admin commits a dataset; any tenant retrieves from it with its own predicate
    model, and the proofs count against its quota (alice may have 2 unfinished jobs)."""
    records = np.array([[[0.8, 0, 0, 0]], [[-0.7, 0, 0, 0]], [[-0.6, 0, 0, 0]]], np.float32)
    layer = torch.nn.Linear(4, 2)
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.zero_()
        layer.weight[1, 0], layer.weight[0, 0] = 1.0, -1.0
    export_onnx(layer, 4, tmp_path / "predicate.onnx")
    predicate = (tmp_path / "predicate.onnx").read_bytes()
    with secured_gateway.client(ALICE_KEY) as alice:
        code, details = _code(lambda: alice.commit_dataset("mine", Dataset.from_array(records)))
        assert code == grpc.StatusCode.PERMISSION_DENIED and "admin" in details
    with secured_gateway.client(ADMIN_KEY) as ops:
        dataset_id, _ = ops.commit_dataset("shared", Dataset.from_array(records))
    with secured_gateway.client(ALICE_KEY) as alice, secured_gateway.client(BOB_KEY) as bob:
        dataset = alice.dataset(dataset_id)
        # One match and two left-out records: three proofs, over alice's quota of two.
        code, details = _code(lambda: alice.retrieve(dataset_id, dataset, predicate, sample_size=2))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "3 proofs" in details
        mine = alice.retrieve(dataset_id, dataset, predicate, sample_size=1)
        theirs = bob.retrieve(dataset_id, dataset, predicate, sample_size=1)
        assert mine.statement.match_indices() == theirs.statement.match_indices() == [0]
        assert mine.statement.predicate_model != theirs.statement.predicate_model
        # A predicate is its tenant's query: listed to that tenant only.
        listed = {model.name for model in alice.models()}
        assert mine.statement.predicate_model in listed
        assert theirs.statement.predicate_model not in listed
    with secured_gateway.client(ADMIN_KEY) as ops:
        code, details = _code(
            lambda: ops.register_model(
                "predicate-mine", DIGITS / "model.onnx", DIGITS / "calibration.npy"
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "kept for retrieval" in details
    # A retrieval is its tenant's: revealing again names the same one (content-addressed, same
    # jobs), and another tenant cannot read it.
    with grpc.secure_channel(
        secured_gateway.gateway.target, secured_gateway.gateway.credentials
    ) as channel:
        stub = zkgate_pb2_grpc.RetrievalServiceStub(channel)
        retrieval = stub.RevealRetrievalNonce(
            pb.RevealRetrievalNonceRequest(
                dataset_id=dataset_id,
                statement_json=mine.statement.to_json(),
                client_nonce=mine.client_nonce,
            ),
            metadata=[("authorization", f"Bearer {ALICE_KEY}")],
        )
        assert retrieval.result_json and retrieval.proven == 2
        code, details = _code(
            lambda: stub.GetRetrieval(
                pb.GetRetrievalRequest(retrieval_id=retrieval.retrieval_id),
                metadata=[("authorization", f"Bearer {BOB_KEY}")],
            )
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED and "another tenant" in details


def test_job_listings_and_cancels_are_tenant_scoped(secured_gateway, secured_model):
    """A tenant lists and cancels only its own jobs; another tenant sees nothing of them."""
    x = np.load(DIGITS / "test_inputs.npy").astype(np.float32)
    with secured_gateway.client(ALICE_KEY) as alice, secured_gateway.client(BOB_KEY) as bob:
        with secured_gateway.gateway.paused_provers():
            mine = alice.infer("digits", {"input": x[20]}, prove=True).job_id
            assert mine in [job.job_id for job in alice.list_jobs(page_size=500).jobs]
            assert mine not in [job.job_id for job in bob.list_jobs(page_size=500).jobs]
            assert not bob.list_jobs(states=[pb.JOB_STATE_QUEUED], model_name="digits").jobs
            code, details = _code(lambda: bob.cancel_job(mine))
            assert code == grpc.StatusCode.PERMISSION_DENIED and "another tenant" in details
            assert alice.job(mine).state == pb.JOB_STATE_QUEUED
            assert alice.cancel_job(mine).state == pb.JOB_STATE_CANCELLED
        # The admin's registration is the admin's: not in alice's listing.
        assert secured_model not in [job.job_id for job in alice.list_jobs(page_size=500).jobs]
