"""One config for the gateway: flags win over ZKGATE_* environment variables, which win over
defaults, and bad values are refused with the setting's name."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from zkgate.gateway.config import GatewayConfig, add_config_arguments, load_config
from zkgate.prover.queue.catalog import ProofPolicy


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    return parser.parse_args(argv)


def test_flags_win_over_environment_over_defaults() -> None:
    env = {"ZKGATE_PORT": "9000", "ZKGATE_WORKERS": "3", "ZKGATE_DEFAULT_POLICY": "always"}
    config = load_config(_args("--port", "9100", "--data-dir", "/tmp/x"), env)
    assert config.port == 9100
    assert config.workers == 3
    assert config.default_policy == ProofPolicy.ALWAYS
    assert config.data_dir == Path("/tmp/x")
    assert config.lease_seconds == GatewayConfig().lease_seconds


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ZKGATE_PORT": "eighty"}, "bad value 'eighty' for port"),
        ({"ZKGATE_DEFAULT_POLICY": "sometimes"}, "for default_policy"),
        ({"ZKGATE_SRS_PATH": "/srs/k12.srs"}, "srs_path and srs_sha256 go together"),
        # An operator may replay more of every proof-of-learning, never less than the verifier.
        ({"ZKGATE_LEARNING_RANDOM_SEGMENTS": "2"}, "may raise the verifier's minimum replay"),
        ({"ZKGATE_LEARNING_TOP_Q": "0"}, "may raise the verifier's minimum replay"),
    ],
)
def test_bad_settings_are_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(_args(), env)
