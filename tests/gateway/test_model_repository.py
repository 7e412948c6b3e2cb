"""The model repository: folders read and refused with what to fix, and a real gateway started
with --model-repository that registers at start and on `zkgate models sync`, idempotently."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from tests.fixtures.gateway_fixtures import DIGITS, RunningGateway, start_gateway
from tests.fixtures.s3_fixtures import S3_ENVIRONMENT, S3Server
from zkgate.gateway.access_control import PermissionDenied, Tenant
from zkgate.gateway.assembly import assemble
from zkgate.gateway.config import GatewayConfig
from zkgate.gateway.model_repository import (
    FolderConfig,
    RepositoryError,
    read_config,
    read_folder,
)
from zkgate.gateway.model_repository_source import ObjectStoreMirror
from zkgate.prover.artifacts.store_settings import S3Location
from zkgate.wire import zkgate_pb2 as pb


def _folder(root: Path, name: str, config: str | None = None, *, onnx: bool = True) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    if onnx:
        shutil.copy(DIGITS / "model.onnx", folder / "model.onnx")
    shutil.copy(DIGITS / "calibration.npy", folder / "calibration.npy")
    if config is not None:
        (folder / "model.toml").write_text(config)
    return folder


def test_a_full_config_is_read(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        "digits",
        'policy = "always"\nbatch_size = 4\nfidelity = "max-abs:0.05"\ntuning = "none"\n'
        'max_logrows = 16\nparam_visibility = "fixed"\n',
    )
    model = read_folder(folder)
    assert model.name == "digits"
    assert model.onnx == (DIGITS / "model.onnx").read_bytes()
    assert model.config == FolderConfig(
        policy="always",
        batch_size=4,
        fidelity="max-abs:0.05",
        tuning="none",
        max_logrows=16,
        param_visibility="fixed",
    )
    assert read_folder(_folder(tmp_path, "plain")).config == FolderConfig(), "no file: defaults"


@pytest.mark.parametrize(
    ("config", "error"),
    [
        (
            'policy = "always"\nbatchsize = 4\n',
            r"unknown key\(s\) 'batchsize'; the keys are policy",
        ),
        ('[srs]\npath = "x"\n', r"unknown key\(s\) 'srs'"),
        ('batch_size = "eight"\n', "batch_size must be an integer, got 'eight'"),
        ("batch_size = true\n", "batch_size must be an integer"),
        ("policy = 3\n", "policy must be a string"),
        ("max_logrows = -1\n", "max_logrows must not be negative"),
        ('policy = "sometimes"\n', "policy must be one of on_request, always, never"),
        ('fidelity = "argmax:2"\n', "fidelity|agreement"),
        ('tuning = "hard"\n', "tuning|hard"),
        ("policy = \n", "is not valid TOML"),
    ],
)
def test_bad_configs_say_what_to_fix(tmp_path: Path, config: str, error: str) -> None:
    folder = _folder(tmp_path, "m", config)
    with pytest.raises(RepositoryError, match=error) as refused:
        read_folder(folder)
    assert str(folder / "model.toml") in str(refused.value)


def test_a_folder_needs_one_onnx_and_its_calibration(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match=r"exactly one \.onnx file \(found none\)"):
        read_folder(_folder(tmp_path, "none", onnx=False))
    two = _folder(tmp_path, "two")
    shutil.copy(DIGITS / "model.onnx", two / "other.onnx")
    with pytest.raises(RepositoryError, match=r"found model\.onnx, other\.onnx"):
        read_folder(two)
    (tmp_path / "nocal").mkdir()
    shutil.copy(DIGITS / "model.onnx", tmp_path / "nocal" / "model.onnx")
    with pytest.raises(RepositoryError, match=r"calibration\.npy or calibration\.npz \(found 0\)"):
        read_folder(tmp_path / "nocal")
    both = tmp_path / "nocal"
    shutil.copy(DIGITS / "calibration.npy", both / "calibration.npy")
    assert read_folder(both).calibration == (DIGITS / "calibration.npy").read_bytes()
    np.savez(both / "calibration.npz", input=np.load(DIGITS / "calibration.npy"))
    with pytest.raises(RepositoryError, match=r"\(found 2\)"):
        read_folder(both)
    assert read_config(tmp_path / "absent.toml") == FolderConfig()


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repository")
    _folder(root, "digits", 'policy = "always"\ntuning = "none"\n')
    _folder(root, "no-onnx", onnx=False)
    _folder(root, "bad-keys", 'policy = "always"\ncolour = "blue"\n')
    _folder(root, "bad-values", 'batch_size = "eight"\n')
    (root / ".hidden").mkdir()
    return root


@pytest.fixture(scope="module")
def repository_gateway(
    repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    running = start_gateway(
        tmp_path_factory.mktemp("repository-gateway"),
        env={"ZKGATE_MODEL_REPOSITORY": str(repository)},
    )
    yield running
    running.stop()


def _sync(gateway: RunningGateway) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zkgate.client", "models", "sync", "--target", gateway.target],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_gateway_registers_its_repository_at_start_and_syncs_idempotently(
    repository: Path, repository_gateway: RunningGateway
) -> None:
    with repository_gateway.client() as client:
        model = client.model("digits")
        assert (model.version, model.policy) == (1, pb.PROOF_POLICY_ALWAYS)
        client.wait_for_job(model.registration_job_id, timeout=600)
        assert client.model("digits").state == pb.MODEL_STATE_READY
        assert [m.name for m in client.models()] == ["digits"], "bad folders register nothing"

    expected = [
        f"bad-keys\terror\t{repository / 'bad-keys' / 'model.toml'}: unknown key(s) 'colour'; "
        "the keys are policy, batch_size, fidelity, tuning, max_logrows, param_visibility, "
        "srs_path, srs_sha256",
        f"bad-values\terror\t{repository / 'bad-values' / 'model.toml'}: batch_size must be an "
        "integer, got 'eight'",
        "digits\tunchanged\tversion 1",
        f"no-onnx\terror\t{repository / 'no-onnx'} must hold exactly one .onnx file (found none)",
    ]
    for _ in range(2):
        synced = _sync(repository_gateway)
        assert synced.returncode == 1, "a refused folder makes the sync fail"
        assert synced.stdout.splitlines() == expected
    with repository_gateway.client() as client:
        assert [v.version for v in client.model("digits").versions] == [1]

    # A changed config is a new version; the next sync leaves it alone.
    (repository / "digits" / "model.toml").write_text('policy = "never"\ntuning = "none"\n')
    with repository_gateway.client() as client:
        entries = {e.name: e for e in client.sync_models()}
        assert (entries["digits"].action, entries["digits"].version) == ("registered", 2)
        assert entries["digits"].job_id
        assert {e.name: e.action for e in client.sync_models()}["digits"] == "unchanged"
        assert [v.version for v in client.model("digits").versions] == [1, 2]


def test_sync_needs_a_repository(gateway: RunningGateway) -> None:
    with gateway.client() as client, pytest.raises(grpc.RpcError) as refused:
        client.sync_models()
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "--model-repository DIR" in str(refused.value.details())


def test_an_object_store_prefix_is_mirrored_exactly(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    client = s3_server.client()
    files = {
        "models/digits/model.onnx": (DIGITS / "model.onnx").read_bytes(),
        "models/digits/calibration.npy": (DIGITS / "calibration.npy").read_bytes(),
        "models/digits/model.toml": b'policy = "always"\n',
        "models/old/model.onnx": b"gone soon",
        "models/README": b"not in a folder",
        "elsewhere/x/model.onnx": b"outside the prefix",
    }
    for key, body in files.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    target = tmp_path / "mirror"
    mirror = ObjectStoreMirror(client, S3Location(bucket=bucket, prefix="models"), target)
    mirror.refresh()
    assert _tree(target) == {
        "digits/model.onnx": files["models/digits/model.onnx"],
        "digits/calibration.npy": files["models/digits/calibration.npy"],
        "digits/model.toml": b'policy = "always"\n',
        "old/model.onnx": b"gone soon",
    }
    assert read_folder(target / "digits").config.policy == "always"

    client.delete_object(Bucket=bucket, Key="models/old/model.onnx")
    client.put_object(Bucket=bucket, Key="models/digits/model.toml", Body=b'policy = "never"\n')
    mirror.refresh()
    assert sorted(p.name for p in target.iterdir()) == ["digits"], "an emptied folder goes"
    assert read_folder(target / "digits").config.policy == "never"


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_gateway_syncs_from_an_object_store_with_configs_from_values(
    s3_server: S3Server, tmp_path: Path
) -> None:
    """Folders from a bucket prefix, configs from a directory (as the chart mounts them): what
    the sync refuses is reported per folder, and nothing is registered (no prover needed)."""
    bucket = s3_server.new_bucket()
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="repo/no-onnx/calibration.npy", Body=b"x")
    for key in ("repo/digits/model.onnx", "repo/digits/calibration.npy"):
        client.put_object(Bucket=bucket, Key=key, Body=(DIGITS / Path(key).name).read_bytes())
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "digits.toml").write_text('tuning = "slow"\n')
    gateway = start_gateway(
        tmp_path / "gateway",
        workers=0,
        env={
            **S3_ENVIRONMENT,
            "ZKGATE_MODEL_REPOSITORY": f"s3://{bucket}/repo",
            "ZKGATE_MODEL_CONFIGS": str(configs),
            "ZKGATE_S3_ENDPOINT_URL": s3_server.endpoint_url,
        },
    )
    try:
        with gateway.client() as gateway_client:
            entries = [(e.name, e.action, e.error) for e in gateway_client.sync_models()]
            assert gateway_client.models() == []
    finally:
        gateway.stop()
    assert [(name, action) for name, action, _ in entries] == [
        ("digits", "error"),
        ("no-onnx", "error"),
    ]
    assert entries[0][2].startswith(f"{configs / 'digits.toml'}: ")
    assert "tuning" in entries[0][2] and "slow" in entries[0][2]
    assert "must hold exactly one .onnx file (found none)" in entries[1][2]


def test_only_an_admin_syncs(tmp_path: Path) -> None:
    _folder(tmp_path / "models", "digits")
    parts = assemble(
        GatewayConfig(data_dir=tmp_path / "data", model_repository=str(tmp_path / "models"))
    )
    assert parts.repository is not None
    with pytest.raises(PermissionDenied, match="'reader' may not sync the model repository"):
        parts.repository.sync(Tenant(name="reader"))
    assert parts.service.list_models() == []
