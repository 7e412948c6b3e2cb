"""The Helm chart, checked statically: helm lint, the rendered manifests of five value sets
against Kubernetes' schemas and checkov, the alerts with promtool (rules and unit tests), and
prover pools routed by memory."""

from __future__ import annotations

import argparse
import json
import re

import pytest
import yaml

from tests.fixtures.helm_fixtures import (
    CHART,
    CI_VALUES,
    KUBERNETES_VERSION,
    VALUE_SETS,
    find,
    render,
    render_text,
    run_tool,
)
from zkgate.gateway.config import GatewayConfig
from zkgate.prover.memory_sizes import parse_size
from zkgate.prover.worker.lanes import parse_lanes
from zkgate.prover.worker.process import add_worker_arguments

ALERTS = CHART / "files" / "alerts.yaml"
ALERT_TESTS = CI_VALUES / "alerts-test.yaml"
# Custom resources kubernetes-validate has no schema for; everything else must validate.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject"}


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_helm_lint_strict(value_set):
    values = VALUE_SETS[value_set]
    run_tool("helm", "lint", "--strict", CHART, *(["--values", values] if values else []))


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_rendered_manifests_match_the_kubernetes_schemas(value_set, tmp_path):
    rendered = tmp_path / "manifests.yaml"
    rendered.write_text(render_text(VALUE_SETS[value_set]))
    out = run_tool("kubernetes-validate", "--strict", "-k", KUBERNETES_VERSION, rendered)
    unvalidated = set(re.findall(r"Couldn't find schema for kind (\w+)", out))
    assert unvalidated <= CUSTOM_KINDS, out
    validated = re.findall(r"passed for resource (\S+)", out)
    # Secrets, ConfigMaps, Services, Deployments, autoscalers, policies: a dozen at least.
    assert len(validated) >= 12, out


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_checkov_passes_with_only_the_documented_skips(value_set, tmp_path):
    rendered = tmp_path / "manifests.yaml"
    rendered.write_text(render_text(VALUE_SETS[value_set]))
    out = run_tool(
        "checkov", "--config-file", CI_VALUES / "checkov.yaml", "-f", rendered, "-o", "json"
    )
    summary = json.loads(out)["summary"]
    assert summary["failed"] == 0 and summary["parsing_errors"] == 0, summary
    assert summary["passed"] > 100, summary


def test_every_skipped_checkov_check_says_why():
    config_text = (CI_VALUES / "checkov.yaml").read_text()
    for check in yaml.safe_load(config_text)["skip-check"]:
        assert re.search(rf"# {check} \"[^\"]+\": \S", config_text), f"{check} has no reason"


def test_the_alert_rules_are_valid():
    run_tool("promtool", "check", "rules", ALERTS)


def test_every_alert_has_a_unit_test_and_the_tests_pass():
    run_tool("promtool", "test", "rules", ALERT_TESTS)
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(ALERTS.read_text())["groups"]
        for rule in group["rules"]
    }
    tested: dict[str, list[bool]] = {}
    for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]:
        for case in test["alert_rule_test"]:
            tested.setdefault(case["alertname"], []).append(bool(case["exp_alerts"]))
    assert alerts == {
        "ZkgateQueueBacklogGrowing",
        "ZkgateProofFailureRateHigh",
        "ZkgateNoLiveProver",
        "ZkgateInferenceLatencyOverSlo",
        "ZkgateCertificateExpiringSoon",
    }
    assert set(tested) == alerts
    # Each group has a quiet namespace beside the firing one: every alert fires somewhere.
    assert all(any(fired) for fired in tested.values())


def test_the_prometheus_rule_is_the_file_promtool_checks():
    rule = find(render(), "PrometheusRule", "zkgate")
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text())


def test_the_grafana_dashboard_is_json_over_existing_metrics():
    dashboard = json.loads(find(render(), "ConfigMap", "zkgate-dashboard")["data"]["zkgate.json"])
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = set(re.findall(r"\b(zkgate_[a-z_]+)", " ".join(exprs)))
    known = {
        "zkgate_requests_total",
        "zkgate_request_duration_seconds_bucket",
        "zkgate_jobs",
        "zkgate_job_queue_wait_seconds_bucket",
        "zkgate_proving_duration_seconds_bucket",
        "zkgate_job_attempts_total",
        "zkgate_job_failures_total",
        "zkgate_key_cache_requests_total",
        "zkgate_tls_certificate_expiry_timestamp_seconds",
        "zkgate_component",
    }
    assert used <= known, used - known


def _prover(manifests, name="zkgate-prover"):
    return find(manifests, "Deployment", name)["spec"]["template"]["spec"]


def _env(pod):
    return {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}


def test_gpu_provers_ask_for_a_gpu_on_gpu_nodes_with_icicle_configured():
    gpu = render(VALUE_SETS["gpu"])
    pod = _prover(gpu)
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "zkgate-prover-gpu" in container["image"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert _env(pod)["ICICLE_BACKEND_INSTALL_DIR"] == "/opt/icicle/lib/backend"
    # The default is CPU: none of it.
    cpu = _prover(render())
    assert "nvidia.com/gpu" not in cpu["containers"][0]["resources"]["limits"]
    assert "ICICLE_BACKEND_INSTALL_DIR" not in _env(cpu)


def test_prover_pools_are_deployments_of_their_own_sized_by_memory():
    manifests = render(VALUE_SETS["prover-pools"])
    deployments = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Deployment"}
    assert set(deployments) == {"zkgate-gateway", "zkgate-prover-small", "zkgate-prover-large"}
    pools = ("small", "large")
    selectors = [
        deployments[f"zkgate-prover-{p}"]["spec"]["selector"]["matchLabels"] for p in pools
    ]
    assert [s["zkgate.dev/prover-pool"] for s in selectors] == ["small", "large"]
    small, large = (_prover(manifests, f"zkgate-prover-{pool}") for pool in pools)
    # What each pool advertises is what the prover reads, in the code's own units.
    assert parse_size(_env(small)["ZKGATE_PROVER_MEMORY_BUDGET"]) == 10 * 1024**3
    assert parse_size(_env(large)["ZKGATE_PROVER_MEMORY_BUDGET"]) == 56 * 1024**3
    assert [lane.name for lane in parse_lanes(_env(small)["ZKGATE_PROVER_LANES"])] == [
        "register",
        "prove",
    ]
    assert [lane.name for lane in parse_lanes(_env(large)["ZKGATE_PROVER_LANES"])] == ["prove"]
    assert large["containers"][0]["resources"]["limits"] == {"memory": "64Gi", "nvidia.com/gpu": 1}
    assert small["containers"][0]["resources"]["limits"] == {"memory": "12Gi"}
    assert "ICICLE_BACKEND_INSTALL_DIR" not in _env(small) and "tolerations" not in small
    scaling = {
        m["metadata"]["name"]: m
        for m in manifests
        if m["kind"] in {"HorizontalPodAutoscaler", "ScaledObject"}
    }
    assert scaling["zkgate-prover-small"]["spec"]["minReplicas"] == 2
    assert scaling["zkgate-prover-large"]["spec"]["minReplicaCount"] == 0
    # The large pool may be at zero: gateways and registrations count its budget meanwhile.
    for component in ("gateway", "prover"):
        config = find(manifests, "ConfigMap", f"zkgate-{component}")["data"]
        assert config["ZKGATE_STANDBY_MEMORY_BUDGETS"] == "56Gi"
    assert GatewayConfig(standby_memory_budgets="56Gi").standby_memory_budget() == 56 * 1024**3


def test_a_pool_that_may_scale_to_zero_must_state_its_memory_budget():
    pools = {
        "prover.pools.small.memoryBudget": "8Gi",
        "prover.pools.large.autoscaling.minReplicas": 0,
    }
    with pytest.raises(pytest.fail.Exception, match=r"prover\.pools\.large may scale to zero"):
        render(settings=pools)
    budgets = find(
        render(settings={**pools, "prover.pools.large.memoryBudget": "40Gi"}),
        "ConfigMap",
        "zkgate-gateway",
    )
    assert budgets["data"]["ZKGATE_STANDBY_MEMORY_BUDGETS"] == "40Gi"


def test_every_pod_runs_non_root_on_a_read_only_root_filesystem():
    for value_set in VALUE_SETS.values():
        for manifest in render(value_set):
            if manifest["kind"] not in {"Deployment", "StatefulSet"}:
                continue
            pod = manifest["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            for container in pod["containers"]:
                context = container["securityContext"]
                assert context["readOnlyRootFilesystem"] is True
                assert context["allowPrivilegeEscalation"] is False


def test_probes_use_grpc_health_without_tls_and_the_port_with_it():
    plain = find(render(), "Deployment", "zkgate-gateway")["spec"]["template"]["spec"]
    assert plain["containers"][0]["readinessProbe"]["grpc"] == {"port": 8001}
    tls = find(render(VALUE_SETS["gpu"]), "Deployment", "zkgate-gateway")
    assert tls["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["tcpSocket"]
    assert _prover(render())["containers"][0]["livenessProbe"]["httpGet"]["path"] == "/metrics"


def test_bad_values_are_refused_by_the_schema():
    with pytest.raises(pytest.fail.Exception, match="backend"):
        render(settings={"prover.backend": "tpu"})
    with pytest.raises(pytest.fail.Exception, match=r"artifacts\.s3\.bucket is required"):
        render(settings={"artifacts.mode": "s3"})
    with pytest.raises(pytest.fail.Exception, match="lanes"):
        render(settings={"prover.lanes": "verify"})
    with pytest.raises(pytest.fail.Exception, match="memoryBudget"):
        render(settings={"prover.pools.big.memoryBudget": "plenty"})


def test_the_configmaps_use_only_the_codes_setting_names():
    gateway_names = {GatewayConfig.env_name(f) for f in GatewayConfig.__dataclass_fields__}
    gateway_names.add("ZKGATE_DATABASE_URL_FILE")
    manifests = render(VALUE_SETS["gpu"])
    gateway = find(manifests, "ConfigMap", "zkgate-gateway")["data"]
    ours = {name for name in gateway if name.startswith("ZKGATE_")}
    assert ours <= gateway_names, ours - gateway_names
    prover_flags = _prover_setting_names()
    prover = find(manifests, "ConfigMap", "zkgate-prover")["data"]
    ours = {name for name in prover if name.startswith("ZKGATE_")}
    assert ours <= prover_flags, ours - prover_flags
    in_deployment = {name for name in _env(_prover(manifests)) if name.startswith("ZKGATE_")}
    assert in_deployment <= prover_flags | {"ZKGATE_WORKER_ID"}, in_deployment - prover_flags


class _RecordingEnvironment(dict[str, str]):
    """An empty environment that remembers every variable asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return default


def _prover_setting_names() -> set[str]:
    """The variables `zkgate prover` reads: its parser asks the environment for each."""
    environment = _RecordingEnvironment()
    add_worker_arguments(argparse.ArgumentParser(), environment)
    return environment.asked


def test_the_rest_port_is_served_exposed_and_let_through():
    manifests = render()
    assert find(manifests, "ConfigMap", "zkgate-gateway")["data"]["ZKGATE_REST_PORT"] == "8000"
    pod = find(manifests, "Deployment", "zkgate-gateway")["spec"]["template"]["spec"]
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in pod["containers"][0][
        "ports"
    ]
    service_ports = find(manifests, "Service", "zkgate-gateway")["spec"]["ports"]
    assert {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"} in service_ports
    policy = find(manifests, "NetworkPolicy", "zkgate-gateway")["spec"]["ingress"]
    assert {"port": "http", "protocol": "TCP"} in policy[0]["ports"]
