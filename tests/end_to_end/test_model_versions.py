"""Model versions on a real gateway process: registering a name again makes a version, requests
pick a version, the default can be switched, and removal fails queued jobs and frees disk.

Two real registrations (digits and a variant with shifted output bias) on a gateway of the
module's own; the tests run in file order and build on each other's state.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import grpc
import numpy as np
import pytest

from tests.fixtures.gateway_fixtures import DIGITS, RunningGateway, model_infer
from tests.fixtures.model_version_fixtures import digits_variant, directory_bytes
from zkgate.client import Client, Prediction, verify
from zkgate.client.connection import OIP_PATH
from zkgate.core.card import ModelCard
from zkgate.core.oip_codec import decode_tensors, encode_input
from zkgate.core.receipts import Receipt
from zkgate.core.tensors import NamedTensor
from zkgate.wire import open_inference_pb2 as oip
from zkgate.wire import zkgate_pb2 as pb

NAME = "digits-versions"


@dataclass(frozen=True)
class Versions:
    first: str
    second: str


@pytest.fixture(scope="module")
def versions(
    versions_gateway: RunningGateway, tmp_path_factory: pytest.TempPathFactory
) -> Versions:
    variant = digits_variant(tmp_path_factory.mktemp("variant") / "model.onnx")
    with versions_gateway.client() as client:
        commitments = []
        for onnx_path in (DIGITS / "model.onnx", variant):
            response = client.register_model(NAME, onnx_path, DIGITS / "calibration.npy")
            client.wait_for_job(response.job_id, timeout=600)
            commitments.append(client.model(NAME, str(response.model.version)).commitment)
    return Versions(*commitments)


def _infer(gateway: RunningGateway, sample: np.ndarray, version: str = "") -> Prediction:
    """A prediction by the Open Inference Protocol, naming a version as a stock client would."""
    request = oip.ModelInferRequest(model_name=NAME, model_version=version, id=uuid.uuid4().hex)
    tensor = NamedTensor.of("input", sample)
    encode_input(request, tensor)
    with grpc.insecure_channel(gateway.target) as channel:
        response = model_infer(channel, request)
    receipt = Receipt.from_json(response.parameters["zkgate.receipt"].string_param)
    assert response.model_version == receipt.body.commitment
    outputs = decode_tensors(response.outputs, response.raw_output_contents)
    return Prediction(NAME, request.id, [tensor], outputs, receipt)


def _ready(gateway: RunningGateway, version: str) -> bool:
    with grpc.insecure_channel(gateway.target) as channel:
        call = channel.unary_unary(
            OIP_PATH + "ModelReady",
            request_serializer=oip.ModelReadyRequest.SerializeToString,
            response_deserializer=oip.ModelReadyResponse.FromString,
        )
        reply: oip.ModelReadyResponse = call(
            oip.ModelReadyRequest(name=NAME, version=version), timeout=30
        )
        return reply.ready


def _cli(gateway: RunningGateway, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zkgate.client", "models", *args, "--target", gateway.target],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_new_model_under_a_name_is_a_new_version_and_serves_by_default(
    versions_gateway: RunningGateway, versions: Versions, digits_inputs: np.ndarray
) -> None:
    assert versions.first != versions.second
    with versions_gateway.client() as client:
        model = client.model(NAME)
        assert (model.version, model.commitment, model.is_default) == (2, versions.second, True)
        assert [(v.version, v.commitment) for v in model.versions] == [
            (1, versions.first),
            (2, versions.second),
        ]
        # The same registration again is refused, and makes no version.
        with pytest.raises(grpc.RpcError) as refused:
            client.register_model(NAME, DIGITS / "model.onnx", DIGITS / "calibration.npy")
        assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert "version 1 already holds" in str(refused.value.details())
        assert len(client.model(NAME).versions) == 2
    assert _infer(versions_gateway, digits_inputs[0]).receipt.body.commitment == versions.second
    for version in ("1", versions.first):
        assert _infer(versions_gateway, digits_inputs[0], version).receipt.body.commitment == (
            versions.first
        )
    assert _ready(versions_gateway, "1") and _ready(versions_gateway, versions.second)

    listing = _cli(versions_gateway, "list")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines() == [
        f"{NAME}\t1\tready\t{versions.first}\t",
        f"{NAME}\t2\tready\t{versions.second}\tdefault",
    ]


def test_unknown_versions_are_not_found(
    versions_gateway: RunningGateway, versions: Versions, digits_inputs: np.ndarray
) -> None:
    for version in ("3", "f" * 64, "latest"):
        for call in (
            lambda v: _ready(versions_gateway, v),
            lambda v: _infer(versions_gateway, digits_inputs[0], v),
        ):
            with pytest.raises(grpc.RpcError) as missing:
                call(version)
            assert missing.value.code() == grpc.StatusCode.NOT_FOUND
            assert f"has no version '{version}'" in str(missing.value.details())
            assert "its versions: 1 (" in str(missing.value.details())
    with versions_gateway.client() as client, pytest.raises(grpc.RpcError) as missing:
        client.set_default_version(NAME, "7")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_an_older_versions_receipt_is_still_proven_under_its_own_version(
    versions_gateway: RunningGateway, versions: Versions, digits_inputs: np.ndarray
) -> None:
    prediction = _infer(versions_gateway, digits_inputs[1], "1")
    with versions_gateway.client() as client:
        proof = client.wait_for_proof(client.request_proof(prediction), timeout=600)
        verified = verify(
            prediction,
            proof,
            client.bundle(NAME, version="1"),
            pinned_commitment=versions.first,
            gateway_public_key=client.gateway_key(),
            allow_insecure_srs=True,
        )
    assert verified.commitment == versions.first


def test_the_default_version_can_be_switched(
    versions_gateway: RunningGateway, versions: Versions, digits_inputs: np.ndarray
) -> None:
    switched = _cli(versions_gateway, "default", NAME, "1")
    assert switched.returncode == 0, switched.stderr
    assert f"default     {NAME} 1 {versions.first}" in switched.stdout
    assert _infer(versions_gateway, digits_inputs[0]).receipt.body.commitment == versions.first
    listing = _cli(versions_gateway, "list").stdout.splitlines()
    assert listing[0].endswith("\tdefault (pinned)") and listing[1].endswith("\t")


def test_removal_fails_queued_jobs_frees_disk_and_leaves_the_other_version(
    versions_gateway: RunningGateway, versions: Versions, digits_inputs: np.ndarray
) -> None:
    artifacts = versions_gateway.data_dir / "artifacts"
    with versions_gateway.paused_provers():
        queued = _infer(versions_gateway, digits_inputs[2], "2")
        with versions_gateway.client() as client:
            job_id = client.request_proof(queued)
            before = directory_bytes(artifacts)
            removed = client.remove_model(NAME, "2")
            job = client.job(job_id)
    assert [(m.version, m.commitment) for m in removed.removed] == [(2, versions.second)]
    assert list(removed.failed_job_ids) == [job_id]
    assert job.state == pb.JOB_STATE_FAILED
    assert f"model '{NAME}' version 2 ({versions.second}) was removed" in job.error
    # Its proving key and the rest go; the shared SRS slice and version 1's files stay.
    assert removed.artifacts_deleted >= 4 and removed.bytes_freed > 0
    assert before - directory_bytes(artifacts) == removed.bytes_freed
    assert not removed.sweep_waiting

    for version in ("2", versions.second):
        with pytest.raises(grpc.RpcError) as gone:
            _ready(versions_gateway, version)
        assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    assert _infer(versions_gateway, digits_inputs[0]).receipt.body.commitment == versions.first
    with versions_gateway.client() as client:
        with pytest.raises(grpc.RpcError) as again:
            client.remove_model(NAME, "2")
        assert again.value.code() == grpc.StatusCode.NOT_FOUND
        # Version 1 still proves: nothing it needs was deleted.
        prediction = _infer(versions_gateway, digits_inputs[3])
        client.wait_for_proof(client.request_proof(prediction), timeout=600)


def test_removing_the_model_while_it_proves_defers_its_files_to_the_sweep(
    versions_gateway: RunningGateway, versions: Versions, digits_inputs: np.ndarray
) -> None:
    """A running proof keeps its keys: the removal leaves them, the proof finishes, and the
    gateway's periodic sweep (every second here) deletes them afterwards."""
    with versions_gateway.client() as client:
        proving_key = ModelCard.from_json(client.model(NAME).card_json).artifacts["pk"]
        job_id, removed = _remove_while_proving(versions_gateway, client, digits_inputs)
        assert [m.version for m in removed.removed] == [1]
        assert removed.artifacts_deleted == 0
        assert removed.sweep_waiting == [f"{NAME} 1: job {job_id} is proving it"]
        assert client.wait_for_job(job_id, timeout=600).state == pb.JOB_STATE_SUCCEEDED
        with pytest.raises(grpc.RpcError) as gone:
            client.model(NAME)
        assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    stored = versions_gateway.data_dir / "artifacts" / "sha256" / proving_key[:2] / proving_key[2:]
    deadline = time.monotonic() + 30
    while stored.exists():
        assert time.monotonic() < deadline, "the sweep never deleted the proving key"
        time.sleep(0.2)


def _remove_while_proving(
    gateway: RunningGateway, client: Client, inputs: np.ndarray
) -> tuple[str, pb.RemoveModelResponse]:
    """Asks for a proof, freezes the provers once it runs, and removes the model meanwhile. A
    digits proof takes under a second, so a proof may end before the freeze: then another."""
    for sample in inputs[4:10]:
        job_id = client.request_proof(_infer(gateway, sample))
        while client.job(job_id).state == pb.JOB_STATE_QUEUED:
            time.sleep(0.005)
        # Past the card lookup that starts a job, into the proof.
        time.sleep(0.05)
        with gateway.paused_provers():
            if client.job(job_id).state == pb.JOB_STATE_RUNNING:
                return job_id, client.remove_model(NAME)
    raise AssertionError("no proof was caught running")
