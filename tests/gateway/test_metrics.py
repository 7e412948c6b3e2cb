"""Prometheus metrics after real traffic: a gateway with an embedded prover and a standalone
prover, each on its own /metrics, checked by promtool and scraped by a real Prometheus."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from tests.fixtures.gateway_fixtures import DIGITS, free_port, register
from tests.fixtures.metrics_fixtures import MetricsCluster, sample, scrape, wait_for
from zkgate.client import ProofJobFailed
from zkgate.gateway.metrics import ModelLabels, requested_model
from zkgate.wire import open_inference_pb2 as oip
from zkgate.wire import zkgate_pb2 as pb

OIP = "inference.GRPCInferenceService"
MODELS = "zkgate.v1.ModelService"
# A name no catalogue holds: it must not become a label value.
PROBE_NAME = "no-such-model-7f3a"


@dataclass(frozen=True)
class Traffic:
    model: str


@pytest.fixture(scope="module")
def traffic(metrics_cluster: MetricsCluster, digits_inputs: np.ndarray) -> Traffic:
    """A registration, a prediction, a proven prediction, a failed registration and bad calls."""
    with metrics_cluster.gateway.client() as client:
        model = register(client, "digits", DIGITS / "model.onnx").name
        client.infer(model, {"input": digits_inputs[0]})
        proven = client.infer(model, {"input": digits_inputs[1]}, prove=True)
        assert proven.job_id is not None
        client.wait_for_job(proven.job_id, timeout=300)
        too_small = client.register_model(
            "digits-too-small", DIGITS / "model.onnx", DIGITS / "calibration.npy", max_logrows=6
        )
        with pytest.raises(ProofJobFailed):
            client.wait_for_job(too_small.job_id, timeout=300)
        with pytest.raises(grpc.RpcError):
            client.model(PROBE_NAME)
        with pytest.raises(grpc.RpcError):
            client.infer(model, {"input": np.zeros(3, dtype=np.float32)})
    return Traffic(model=model)


def _promtool_problems(text: str) -> str:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run scripts/install_system_packages.sh"
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    return f"exit {result.returncode}: {result.stdout}{result.stderr}".strip()


def test_both_endpoints_pass_promtool(metrics_cluster: MetricsCluster, traffic: Traffic) -> None:
    for text in metrics_cluster.scrapes():
        assert "zkgate_" in text
        assert _promtool_problems(text) == "exit 0:"


def test_requests_are_counted_by_model_method_and_code(
    metrics_cluster: MetricsCluster, traffic: Traffic
) -> None:
    text = scrape(metrics_cluster.gateway_metrics_port)
    infer = {"service": OIP, "method": "ModelInfer", "model": traffic.model}
    assert sample(text, "zkgate_requests_total", {**infer, "code": "OK"}) == 2
    assert sample(text, "zkgate_requests_total", {**infer, "code": "INVALID_ARGUMENT"}) == 1
    assert sample(text, "zkgate_request_duration_seconds_count", {**infer, "code": "OK"}) == 2
    assert sample(text, "zkgate_request_duration_seconds_sum", {**infer, "code": "OK"}) > 0
    unknown = {"service": MODELS, "method": "GetModel", "model": "unknown", "code": "NOT_FOUND"}
    assert sample(text, "zkgate_requests_total", unknown) == 1
    assert PROBE_NAME not in text
    # Calls about no model carry an empty model label; health checks are not counted.
    assert sample(text, "zkgate_requests_total", {"method": "WatchJob", "model": ""}) >= 2
    assert "grpc.health" not in text


def test_job_counts_come_from_the_queue(metrics_cluster: MetricsCluster, traffic: Traffic) -> None:
    text = scrape(metrics_cluster.gateway_metrics_port)
    # Two registrations (one failed) and one proof.
    assert sample(text, "zkgate_jobs", {"state": "succeeded"}) == 2
    assert sample(text, "zkgate_jobs", {"state": "failed"}) == 1
    assert sample(text, "zkgate_jobs", {"state": "queued"}) == 0


def test_provers_report_outcomes_waits_and_proving_time(
    metrics_cluster: MetricsCluster, traffic: Traffic
) -> None:
    # The embedded and the standalone prover compete for jobs: whichever ran one, it counts once.
    total = metrics_cluster.total
    prove_ok = {"kind": "prove", "outcome": "succeeded"}
    assert wait_for(lambda: total("zkgate_job_attempts_total", prove_ok), 1) == 1
    register_ok = {"kind": "register", "outcome": "succeeded"}
    assert wait_for(lambda: total("zkgate_job_attempts_total", register_ok), 1) == 1
    deterministic = {"kind": "register", "reason": "deterministic"}
    assert wait_for(lambda: total("zkgate_job_failures_total", deterministic), 1) == 1
    assert total("zkgate_job_failures_total", {"reason": "transient"}) == 0
    assert total("zkgate_job_queue_wait_seconds_count", {"kind": "register"}) == 2
    assert total("zkgate_job_queue_wait_seconds_count", {"kind": "prove"}) == 1
    assert total("zkgate_job_queue_wait_seconds_sum", {"kind": "prove"}) >= 0
    proving = {"model": traffic.model}
    assert total("zkgate_proving_duration_seconds_count", proving) == 1
    assert total("zkgate_proving_duration_seconds_sum", proving) > 0.1
    # The provers copy keys from the shared volume into their cache to prove.
    assert total("zkgate_key_cache_requests_total", {}) >= 1


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def prometheus(metrics_cluster: MetricsCluster, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: run scripts/install_system_packages.sh"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "zkgate-gateway",
                        "static_configs": [
                            {"targets": [f"127.0.0.1:{metrics_cluster.gateway_metrics_port}"]}
                        ],
                    },
                    {
                        "job_name": "zkgate-prover",
                        "static_configs": [
                            {"targets": [f"127.0.0.1:{metrics_cluster.prover_metrics_port}"]}
                        ],
                    },
                ],
            }
        )
    )
    port = free_port()
    log = tmp_path / "prometheus.log"
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _poll(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError as exc:  # the server is still starting
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"gave up after {timeout} s; last answer: {last}")


def test_prometheus_scrapes_gateway_and_prover(prometheus: str, traffic: Traffic) -> None:
    def both_up() -> dict[str, str]:
        targets = _get_json(f"{prometheus}/api/v1/targets")["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        return health if set(health.values()) == {"up"} and len(health) == 2 else {}

    assert _poll(both_up) == {"zkgate-gateway": "up", "zkgate-prover": "up"}

    def series(query: str) -> list[Any]:
        url = f"{prometheus}/api/v1/query?query={urllib.parse.quote(query)}"
        result: list[Any] = _get_json(url)["data"]["result"]
        return result

    requests = _poll(lambda: series('zkgate_requests_total{method="ModelInfer",code="OK"}'))
    assert {r["metric"]["model"] for r in requests} == {traffic.model}
    attempts = _poll(lambda: series('zkgate_job_attempts_total{job="zkgate-prover"}'))
    assert len(attempts) == 10  # every kind and outcome, from the standalone prover


def test_model_labels_are_bounded_by_the_catalogue() -> None:
    labels = ModelLabels(lambda name: name == "digits")
    assert labels.label("digits") == "digits"
    assert labels.label(PROBE_NAME) == "unknown"
    assert labels.label("") == ""
    assert requested_model(oip.ModelInferRequest(model_name="digits")) == "digits"
    assert requested_model(pb.GetModelRequest(name="digits")) == "digits"
    assert requested_model(pb.GetJobRequest(job_id="abc")) == ""


@pytest.mark.parametrize("path", ["/", "/v2/health/ready", "/metricsx", "/metrics/extra"])
def test_the_metrics_port_answers_only_at_metrics(
    metrics_cluster: MetricsCluster, path: str
) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(
            f"http://127.0.0.1:{metrics_cluster.gateway_metrics_port}{path}", timeout=5
        )
    assert info.value.code == 404


def test_rest_calls_are_counted_beside_rpcs(
    metrics_cluster: MetricsCluster, traffic: Traffic, digits_inputs: np.ndarray
) -> None:
    rest = f"http://{metrics_cluster.gateway.rest_target}"
    body = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP32",
                    "shape": [1, 64],
                    "data": digits_inputs[2].astype(float).ravel().tolist(),
                }
            ]
        }
    ).encode()
    with urllib.request.urlopen(f"{rest}/v2/models/{traffic.model}/infer", body, timeout=30):
        pass
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{rest}/v2/models/{PROBE_NAME}", timeout=30)
    with urllib.request.urlopen(f"{rest}/v2/health/ready", timeout=30):
        pass
    text = scrape(metrics_cluster.gateway_metrics_port)
    infer = {"service": "rest", "method": "ModelInfer", "model": traffic.model, "code": "OK"}
    assert sample(text, "zkgate_requests_total", infer) == 1
    unknown = {
        "service": "rest",
        "method": "ModelMetadata",
        "model": "unknown",
        "code": "NOT_FOUND",
    }
    assert sample(text, "zkgate_requests_total", unknown) == 1
    assert PROBE_NAME not in text and "health" not in text
    assert _promtool_problems(text) == "exit 0:"
