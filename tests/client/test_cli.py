"""The one `zkgate` command: subcommands of the installed distributions all parse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zkgate.client.cli.main import build_parser, main
from zkgate.prover.worker.process import config_from_args


def test_prover_subcommand_takes_the_worker_flags() -> None:
    args = build_parser().parse_args(
        ["prover", "--data-dir", "/srv/zkgate", "--worker-id", "gpu-0", "--lease-seconds", "45"]
    )
    config = config_from_args(args)
    assert (config.data_dir, config.worker_id, config.lease_seconds) == (
        Path("/srv/zkgate"),
        "gpu-0",
        45.0,
    )


def test_prover_subcommand_refuses_an_unpinned_srs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prover", "--data-dir", "/tmp/x", "--srs-path", "/srs/k12.srs"]) == 2
    assert "go together" in capsys.readouterr().err


def test_serve_subcommand_refuses_bad_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "eighty"]) == 2
    assert "bad value 'eighty' for port" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["argmax:1.5", "max-abs:0", "cosine:0.9"])
def test_models_add_refuses_an_unreadable_fidelity_target_before_connecting(
    bad: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A readable calibration file: parsing refuses an unreadable one first.
    np.save(tmp_path / "c.npy", np.zeros((2, 4), np.float32))
    calibration = str(tmp_path / "c.npy")
    arguments = ["models", "add", "m", str(tmp_path / "m.onnx"), "--calibration", calibration]
    # No gateway listens on this port: the refusal comes from parsing alone.
    assert main([*arguments, "--fidelity", bad, "--target", "127.0.0.1:9"]) == 2
    assert "fidelity target" in capsys.readouterr().err
