"""The chart's configuration is one the code accepts: render the chart, take the gateway's and
the prover's command and environment from the manifests, start the real processes with them
against a real PostgreSQL, and make client calls over TLS with an API key.

Only what cannot exist outside a cluster is supplied here: the ports (rendered from values),
the contents of Secrets the chart only names (the database URL, the TLS pair) and the host
directories that stand in for the pods' volumes (helm_fixtures.pod_on_host).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tests.fixtures.access_fixtures import Pki, make_pki
from tests.fixtures.gateway_fixtures import DIGITS, RunningGateway, free_port
from tests.fixtures.helm_fixtures import PodOnHost, find, pod_on_host, render
from tests.fixtures.metrics_fixtures import sample, scrape
from tests.fixtures.postgres_fixtures import PostgresServer
from zkgate.client import Client
from zkgate.core.signing import raw_public_key
from zkgate.gateway.access_control import api_key_digest
from zkgate.gateway.certificate_metrics import EXPIRY_METRIC

ADMIN_KEY = "chart-admin-key-0123456789abcdef0123456789"


@dataclass
class Deployed:
    manifests: list[dict]
    gateway: RunningGateway
    gateway_metrics_port: int
    prover_metrics_port: int
    pki: Pki

    def client(self) -> Client:
        return Client(
            self.gateway.target,
            timeout=60,
            tls=self.pki.client_tls(with_certificate=False),
            api_key=ADMIN_KEY,
        )


def _wait_for_metrics(port: int, process, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the prover exited:\n{log.read_text()[-4000:]}")
        try:
            scrape(port)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the prover's /metrics (its liveness probe) never answered on {port}")


@pytest.fixture(scope="module")
def deployed(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    root = tmp_path_factory.mktemp("chart")
    pki = make_pki(root / "pki")
    ports = {
        "gateway.port": free_port(),
        "gateway.metricsPort": free_port(),
        "prover.metricsPort": free_port(),
    }
    values = root / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "database": {"mode": "external", "external": {"existingSecret": "zkgate-database"}},
                "tls": {"enabled": True, "existingSecret": "zkgate-tls"},
                "accessControl": {
                    "tenants": [
                        {"name": "ops", "admin": True, "key_sha256": [api_key_digest(ADMIN_KEY)]}
                    ]
                },
            }
        )
    )
    manifests = render(values, ports)
    secrets = {
        "zkgate-database": {"url": postgres_server.create_database("chart_round_trip").encode()},
        "zkgate-tls": {
            "tls.crt": (pki.directory / "server.crt").read_bytes(),
            "tls.key": (pki.directory / "server.key").read_bytes(),
        },
    }
    started = []
    try:
        gateway_pod = pod_on_host(
            manifests, "zkgate-gateway", root, pod_name="zkgate-gateway-0", supplied_secrets=secrets
        )
        gateway = _start_gateway(gateway_pod, root, ports["gateway.port"], pki)
        started.append(gateway.process)
        prover_pod = pod_on_host(
            manifests, "zkgate-prover", root, pod_name="zkgate-prover-0", supplied_secrets=secrets
        )
        prover_log = root / "prover.log"
        prover = prover_pod.start(prover_log)
        started.append(prover)
        _wait_for_metrics(ports["prover.metricsPort"], prover, prover_log)
        yield Deployed(
            manifests, gateway, ports["gateway.metricsPort"], ports["prover.metricsPort"], pki
        )
    finally:
        for process in reversed(started):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(60)


def _start_gateway(pod: PodOnHost, root: Path, port: int, pki: Pki) -> RunningGateway:
    gateway = RunningGateway(
        data_dir=root / "gateway-log",
        port=port,
        workers=0,
        lease_seconds=0,
        max_message_bytes=0,
        credentials=grpc.ssl_channel_credentials(root_certificates=pki.ca.read_bytes()),
    )
    gateway.data_dir.mkdir()
    gateway.process = pod.start(gateway.log_path)
    gateway.wait_healthy()
    return gateway


def test_the_rendered_processes_register_serve_and_prove_the_bundled_model(deployed):
    with deployed.client() as client:
        job = client.register_model("digits", DIGITS / "model.onnx", DIGITS / "calibration.npy")
        client.wait_for_job(job.job_id, timeout=600)
        commitment = client.model("digits").commitment
        x = np.load(DIGITS / "test_inputs.npy")[0]
        prediction = client.infer("digits", {"input": x}, prove=True)
        assert prediction.job_id is not None
        proof = client.wait_for_proof(prediction.job_id, timeout=600)
        verified = client.verify(
            prediction, proof, pinned_commitment=commitment, allow_insecure_srs=True
        )
        gateway_key = client.gateway_key()
    assert verified.commitment == commitment
    # Receipts are signed with the key of the chart's signing-key Secret, mounted by subPath.
    secret = find(deployed.manifests, "Secret", "zkgate-signing-key")
    pem = base64.b64decode(secret["data"]["key.pem"])
    assert gateway_key == raw_public_key(load_pem_private_key(pem, password=None))


def test_the_metrics_ports_the_chart_scrapes_answer(deployed):
    gateway_text = scrape(deployed.gateway_metrics_port)
    certificate = (deployed.pki.directory / "server.crt").read_bytes()
    not_after = x509.load_pem_x509_certificate(certificate).not_valid_after_utc.timestamp()
    assert sample(gateway_text, EXPIRY_METRIC, {}) == not_after
    assert "zkgate_jobs" in gateway_text
    assert "zkgate_job_attempts_total" in scrape(deployed.prover_metrics_port)


def test_a_call_without_the_api_key_is_refused(deployed):
    with (
        Client(
            deployed.gateway.target, timeout=30, tls=deployed.pki.client_tls(with_certificate=False)
        ) as client,
        pytest.raises(grpc.RpcError) as refused,
    ):
        client.models()
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
