"""`zkgate pol`: the offline round trip, and exit codes 0 accepted, 1 rejected, 2 unreadable."""

from __future__ import annotations

import json

import pytest

from zkgate.client.cli.main import main
from zkgate.core.keys import load_or_create_private_key
from zkgate.core.signing import raw_public_key
from zkgate.pol import proof_files


@pytest.fixture(scope="module")
def recorded(pol_world, tmp_path_factory):
    """A calibrated policy from the fixture, recorded offline by the CLI."""
    base = tmp_path_factory.mktemp("pol-cli")
    (base / "policy.json").write_text(pol_world.policy.to_json())
    code = main(
        [
            "pol", "record",
            "--policy", str(base / "policy.json"),
            "--key", str(base / "owner.key"),
            "--out", str(base / "proof"),
            "--archive", str(base / "proof.zip"),
        ]
    )  # fmt: skip
    assert code == 0
    return base


def test_calibrate_writes_a_policy_with_thresholds(tmp_path, capsys):
    out = tmp_path / "policy.json"
    args = ["pol", "calibrate", "--out", str(out), "--epochs", "1", "--seeds", "1"]
    assert main([*args, "--threads", "1"]) == 0
    policy = json.loads(out.read_text())
    assert policy["calibration"]["margin"] == 10.0
    assert policy["thresholds"]["l2"] > 0
    assert "thresholds (margin 10x" in capsys.readouterr().out


def test_record_then_verify_directory_and_archive(recorded, capsys):
    for proof in ("proof", "proof.zip"):
        report = recorded / f"{proof}.report.json"
        assert main(["pol", "verify", str(recorded / proof), "--report", str(report)]) == 0
        assert json.loads(report.read_text())["accepted"] is True
        assert "self-issued" in capsys.readouterr().out


def test_verify_exit_codes(recorded, pol_world, tmp_path, capsys):
    other_onnx = tmp_path / "other.onnx"
    other_onnx.write_bytes(b"not the served model")
    assert main(["pol", "verify", str(recorded / "proof"), "--onnx", str(other_onnx)]) == 1
    assert "another ONNX file" in capsys.readouterr().out
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"\x00" * 100)
    assert main(["pol", "verify", str(garbage)]) == 2
    assert "not a zip archive" in capsys.readouterr().err
    assert main(["pol", "verify", str(tmp_path / "missing.zip")]) == 2


def test_dispute_and_check_verdict(recorded, victim, tmp_path, capsys):
    arbiter = load_or_create_private_key(tmp_path / "arbiter.key")
    onnx = recorded / "proof" / proof_files.MODEL
    verdict = tmp_path / "verdict.json"
    args = [
        "pol", "dispute",
        "--onnx", str(onnx),
        "--claim", f"owner={recorded / 'proof.zip'}",
        "--claim", f"other={victim.proof_dir}",
        "--arbiter-key", str(tmp_path / "arbiter.key"),
        "--out", str(verdict),
    ]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "winner:  owner" in out and "claim other: invalid" in out
    arbiter_hex = raw_public_key(arbiter).hex()
    assert main(["pol", "check-verdict", str(verdict), "--arbiter", arbiter_hex]) == 0
    edited = json.loads(verdict.read_text())
    edited["body"]["winner"] = "other"
    verdict.write_text(json.dumps(edited))
    assert main(["pol", "check-verdict", str(verdict), "--arbiter", arbiter_hex]) == 1


def test_record_and_verify_against_a_gateway(gateway, pol_world, tmp_path, capsys):
    """`--gateway`: the intent and the timestamps come from the gateway, whose key verify
    then trusts."""
    (tmp_path / "policy.json").write_text(pol_world.policy.to_json())
    record = [
        "pol", "record",
        "--policy", str(tmp_path / "policy.json"),
        "--key", str(tmp_path / "owner.key"),
        "--out", str(tmp_path / "proof"),
        "--gateway", gateway.target,
        "--timestamp-every", "20",
    ]  # fmt: skip
    assert main(record) == 0
    assert f"gateway {gateway.target}" in capsys.readouterr().out
    stamps = json.loads((tmp_path / "proof" / proof_files.TIMESTAMPS).read_text())
    assert len(stamps) == 5, "checkpoints 0, 20, 40, the last, and the manifest"
    report = tmp_path / "report.json"
    verify = ["pol", "verify", str(tmp_path / "proof"), "--report", str(report)]
    assert main([*verify, "--gateway", gateway.target]) == 0
    assert json.loads(report.read_text())["earliest_timestamp_ms"] is not None
    # Without trusting the gateway, its intent is not believed.
    assert main(verify) == 1


def test_verify_answers_in_json(recorded, capsys):
    assert main(["pol", "verify", str(recorded / "proof.zip"), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True and document["report"]["accepted"] is True
    assert main(["pol", "check-verdict", str(recorded / "missing.json"), "--arbiter", "00"]) == 2
    assert main(["pol", "verify", str(recorded / "missing.zip"), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["errors"]
