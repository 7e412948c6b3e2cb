"""A thief's own attacks (issue 13), written without zkgate.pol.known_attacks: momentum
steering under a self-loosened policy, and the dispute it then brings with link 0 stamped early."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.pol_thief_fixtures import LOOSE_STATE_LINF
from zkgate.pol.architecture import build_model


@pytest.mark.parametrize("nonce", [bytes([n]) * 32 for n in range(3)], ids=["n0", "n1", "n2"])
def test_momentum_steering_is_rejected(pol_world, momentum_thief, nonce):
    report = pol_world.verify(momentum_thief.proof_dir, verifier_nonce=nonce)
    assert not report.accepted and not report.unverifiable
    reasons = "\n".join(report.reasons)
    assert (
        f"state_linf threshold {LOOSE_STATE_LINF:.3g} is looser than this verifier's ceiling"
        in (reasons)
    )
    # The attack is real: every parameter replays within the policy's own l2 threshold, and only
    # the momentum the thief logged gives it away.
    assert all(s.l2 == 0.0 for s in report.segments)
    # Segment 0 is honest but ends on steering momentum; the last ends on replay's own.
    steered = [s for s in report.segments if s.index < report.segments_total - 1]
    assert steered and all(s.state_linf > report.ceilings["state_linf"] for s in steered)
    assert all(s.state_linf <= LOOSE_STATE_LINF for s in steered)
    assert "does not reproduce the logged checkpoints" in reasons


def test_the_thief_ends_on_the_stolen_model(pol_world, victim, momentum_thief):
    """What makes the attack worth stopping: the thief's model is the victim's, functionally."""
    features = torch.from_numpy(pol_world.dataset.features)
    labels = []
    for params in (victim.final_params(), momentum_thief.final):
        model = build_model(pol_world.policy.architecture)
        model.load_state_dict(params)
        with torch.no_grad():
            labels.append(model(features).argmax(dim=1))
    assert float((labels[0] == labels[1]).double().mean()) > 0.95
