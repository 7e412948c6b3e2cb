"""When the gateway's TLS server certificate expires, as a Prometheus gauge.

The gateway reads its certificate once, at start, so a renewed certificate needs a restart, and
nothing inside the process notices the old one running out. Exporting its notAfter lets
Prometheus warn days ahead (the Helm chart's ZkgateCertificateExpiringSoon alert) instead of
clients finding out through failed handshakes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

EXPIRY_METRIC = "zkgate_tls_certificate_expiry_timestamp_seconds"


class CertificateExpiryCollector(Collector):
    """The served (leaf) certificate's notAfter in Unix seconds: the first certificate of the
    PEM chain, which is the one TLS presents; the rest are its issuers."""

    def __init__(self, chain_pem: bytes) -> None:
        try:
            leaf = x509.load_pem_x509_certificate(chain_pem)
        except ValueError as exc:
            raise ValueError(f"the TLS certificate file holds no PEM certificate: {exc}") from exc
        self.not_after: float = leaf.not_valid_after_utc.timestamp()

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            EXPIRY_METRIC,
            "When the gateway's TLS server certificate expires (notAfter), in Unix seconds.",
            value=self.not_after,
        )


def certificate_collectors(tls_cert_file: str) -> tuple[Collector, ...]:
    """The collectors for a gateway's /metrics: none when TLS is off."""
    if not tls_cert_file:
        return ()
    return (CertificateExpiryCollector(Path(tls_cert_file).read_bytes()),)
