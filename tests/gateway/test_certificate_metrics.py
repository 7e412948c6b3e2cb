"""The gateway exports its TLS certificate's expiry: a real certificate, a real TLS gateway
process, a real scrape of its /metrics (the Helm chart's certificate alert reads this gauge)."""

from __future__ import annotations

import subprocess

import grpc
import pytest
from cryptography import x509

from tests.fixtures.access_fixtures import make_pki
from tests.fixtures.gateway_fixtures import free_port, start_gateway
from tests.fixtures.metrics_fixtures import sample, scrape
from zkgate.gateway.certificate_metrics import EXPIRY_METRIC, CertificateExpiryCollector


def test_a_tls_gateway_exports_its_certificates_expiry(tmp_path):
    pki = make_pki(tmp_path / "pki")
    server_cert = pki.directory / "server.crt"
    # A chain, leaf first: the leaf's expiry counts, not the CA's.
    chain = tmp_path / "chain.crt"
    chain.write_bytes(server_cert.read_bytes() + pki.ca.read_bytes())
    metrics_port = free_port()
    gateway = start_gateway(
        tmp_path / "data",
        workers=0,
        env={
            "ZKGATE_TLS_CERT_FILE": str(chain),
            "ZKGATE_TLS_KEY_FILE": str(pki.directory / "server.key"),
            "ZKGATE_METRICS_PORT": str(metrics_port),
        },
        credentials=grpc.ssl_channel_credentials(root_certificates=pki.ca.read_bytes()),
    )
    try:
        text = scrape(metrics_port)
    finally:
        gateway.stop()
    leaf = x509.load_pem_x509_certificate(server_cert.read_bytes())
    assert sample(text, EXPIRY_METRIC, {}) == leaf.not_valid_after_utc.timestamp()
    check = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_plaintext_gateway_exports_no_expiry(tmp_path):
    metrics_port = free_port()
    gateway = start_gateway(
        tmp_path / "data", workers=0, env={"ZKGATE_METRICS_PORT": str(metrics_port)}
    )
    try:
        text = scrape(metrics_port)
    finally:
        gateway.stop()
    assert "zkgate_jobs" in text
    assert EXPIRY_METRIC not in text


def test_a_file_without_a_certificate_is_refused_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match="holds no PEM certificate"):
        CertificateExpiryCollector(b"not a certificate")
