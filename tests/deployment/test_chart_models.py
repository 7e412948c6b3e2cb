"""Models declared through the Helm chart: the model repository's source (an object-store prefix
or a volume) and per-model configs in values, rendered as files the gateway's own reader
accepts. The value sets are also rendered, schema-checked and checkov'd by test_helm_chart."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.helm_fixtures import VALUE_SETS, find, render
from zkgate.gateway.model_repository import FolderConfig, read_config


def _gateway_container(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    pod = find(manifests, "Deployment", "zkgate-gateway")["spec"]["template"]["spec"]
    container: dict[str, Any] = pod["containers"][0]
    return container


def test_configs_in_values_become_model_tomls_the_gateway_reads(tmp_path: Path) -> None:
    manifests = render(VALUE_SETS["s3"])
    config = find(manifests, "ConfigMap", "zkgate-gateway")["data"]
    assert config["ZKGATE_MODEL_REPOSITORY"] == "s3://zkgate-artifacts/models"
    assert config["ZKGATE_MODEL_CONFIGS"] == "/etc/zkgate/model-configs"
    files = find(manifests, "ConfigMap", "zkgate-models")["data"]
    assert list(files) == ["digits.toml"]
    assert tomllib.loads(files["digits.toml"]) == {
        "batch_size": 8,
        "fidelity": "argmax:0.99",
        "policy": "always",
        "tuning": "fast",
    }
    (tmp_path / "digits.toml").write_text(files["digits.toml"])
    assert read_config(tmp_path / "digits.toml") == FolderConfig(
        policy="always", batch_size=8, fidelity="argmax:0.99", tuning="fast"
    )
    mounts = {m["name"]: m for m in _gateway_container(manifests)["volumeMounts"]}
    assert mounts["model-configs"]["mountPath"] == "/etc/zkgate/model-configs"
    assert "model-repository" not in mounts, "an object-store prefix needs no volume"


def test_a_volume_holds_the_folders_read_only() -> None:
    manifests = render(VALUE_SETS["external-postgresql"])
    config = find(manifests, "ConfigMap", "zkgate-gateway")["data"]
    assert config["ZKGATE_MODEL_REPOSITORY"] == "/var/lib/zkgate-models"
    assert "ZKGATE_MODEL_CONFIGS" not in config
    pod = find(manifests, "Deployment", "zkgate-gateway")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["model-repository"]["persistentVolumeClaim"] == {"claimName": "zkgate-models"}
    mounts = {m["name"]: m for m in _gateway_container(manifests)["volumeMounts"]}
    assert mounts["model-repository"] == {
        "name": "model-repository",
        "mountPath": "/var/lib/zkgate-models",
        "readOnly": True,
    }


def test_no_repository_by_default() -> None:
    manifests = render()
    config = find(manifests, "ConfigMap", "zkgate-gateway")["data"]
    assert "ZKGATE_MODEL_REPOSITORY" not in config
    assert not [m for m in manifests if m["metadata"]["name"] == "zkgate-models"]


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        (
            {"modelRepository.models.digits.policy": "always"},
            "set modelRepository.objectStorePrefix",
        ),
        (
            {
                "modelRepository.objectStorePrefix": "s3://b/p",
                "modelRepository.models.digits.colour": "blue",
            },
            "colour",
        ),
        (
            {
                "modelRepository.objectStorePrefix": "s3://b/p",
                "modelRepository.models.digits.policy": "sometimes",
            },
            "policy",
        ),
        ({"modelRepository.objectStorePrefix": "gs://b/p"}, "objectStorePrefix"),
    ],
)
def test_bad_model_values_are_refused(settings: dict[str, object], error: str) -> None:
    with pytest.raises(pytest.fail.Exception, match=error):
        render(settings=settings)
