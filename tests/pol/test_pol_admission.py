"""The policy admission rules (issue 13 §1): what a gateway checks before it signs an intent, and
the verifier checks again. Each case is an adversary's edit of an honestly calibrated policy."""

from __future__ import annotations

import dataclasses

import pytest

from tests.fixtures.pol_thief_fixtures import LOOSE_STATE_LINF
from zkgate.core.learning.admission import (
    MINIMUM_REPLAY,
    admission_problems,
    noise_floors,
    plan_problems,
)
from zkgate.core.learning.layout import parameter_count
from zkgate.core.learning.policy import ReplayPlan, TrainingPolicy


def _with_thresholds(policy: TrainingPolicy, **changes: float) -> TrainingPolicy:
    return dataclasses.replace(policy, thresholds=dataclasses.replace(policy.thresholds, **changes))


def _with_record(policy: TrainingPolicy, **changes: object) -> TrainingPolicy:
    assert policy.calibration is not None
    return dataclasses.replace(
        policy, calibration=dataclasses.replace(policy.calibration, **changes)
    )


def test_an_honestly_calibrated_policy_is_admitted(pol_world):
    assert admission_problems(pol_world.policy) == []
    assert plan_problems(pol_world.policy, MINIMUM_REPLAY) == []


@pytest.mark.parametrize("metric", ["l1", "l2", "linf", "state_linf"])
def test_a_threshold_looser_than_its_record_implies_is_refused(pol_world, metric):
    loose = _with_thresholds(pol_world.policy, **{metric: LOOSE_STATE_LINF})
    problems = admission_problems(loose)
    assert len(problems) == 1
    assert (
        f"{metric} threshold {LOOSE_STATE_LINF:.3g} is looser than its calibration" in (problems[0])
    )


def test_twice_the_implied_threshold_is_refused_and_the_implied_one_is_not(pol_world):
    policy = pol_world.policy
    record = policy.calibration
    floors = noise_floors(
        record.median_honest_update_l2, parameter_count(policy.architecture.sizes)
    )
    implied = record.margin * max(record.honest_max["state_linf"], floors["state_linf"])
    assert admission_problems(_with_thresholds(policy, state_linf=implied)) == []
    assert admission_problems(_with_thresholds(policy, state_linf=2 * implied))


def test_a_record_inflated_to_cover_the_threshold_still_fails_the_margin_cap(pol_world):
    """The thief rewrites the record's margin so that the loose threshold is 'implied'."""
    record = pol_world.policy.calibration
    noise = max(record.honest_max["state_linf"], 1e-12)
    margin = LOOSE_STATE_LINF / noise
    policy = _with_record(
        _with_thresholds(pol_world.policy, state_linf=LOOSE_STATE_LINF), margin=margin
    )
    assert any("calibration margin" in problem for problem in admission_problems(policy))


def test_a_record_claiming_more_noise_passes_admission_and_is_left_to_measurement(
    pol_world, victim
):
    """Admission reads only the policy: a record that claims 1e3 of honest momentum noise makes
    1e4 consistent. What refuses it is the verifier's own measurement of replay noise."""
    record = pol_world.policy.calibration
    policy = _with_record(
        _with_thresholds(pol_world.policy, state_linf=record.margin * LOOSE_STATE_LINF),
        honest_max={**record.honest_max, "state_linf": LOOSE_STATE_LINF},
    )
    assert admission_problems(policy) == []
    report = pol_world.verify(victim.proof_dir, registered_policy=policy)
    assert not report.accepted
    assert any(
        f"claims honest state_linf noise {LOOSE_STATE_LINF:.3g}" in reason
        for reason in report.reasons
    )


def test_an_inflated_median_update_is_refused_by_measurement(pol_world, victim):
    """The floors scale with the record's median update; inflating it loosens every floor."""
    policy = _with_record(pol_world.policy, median_honest_update_l2=1e9)
    report = pol_world.verify(victim.proof_dir, registered_policy=policy)
    assert not report.accepted
    assert any("median honest update of 1e+09" in reason for reason in report.reasons)


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"cosine": 0.5}, "cosine threshold 0.5"),
        ({"update_ratio": 0.5}, "update-ratio threshold 0.5"),
        ({"min_update_l2": 0.0}, "minimum update 0"),
    ],
)
def test_fixed_caps_and_the_minimum_update(pol_world, changes, needle):
    problems = admission_problems(_with_thresholds(pol_world.policy, **changes))
    assert any(needle in problem for problem in problems)


def test_an_uncalibrated_policy_is_refused(pol_world):
    policy = dataclasses.replace(pol_world.policy, calibration=None)
    assert any("never calibrated" in problem for problem in admission_problems(policy))


def test_a_replay_plan_below_the_verifiers_minimum_is_named(pol_world):
    stingy = dataclasses.replace(pol_world.policy, replay=ReplayPlan(top_q=0, random_segments=2))
    problems = plan_problems(stingy, ReplayPlan(top_q=1, random_segments=24))
    assert problems == [
        "the policy replays 0 top-Q segments per epoch; this verifier requires at least 1",
        "the policy replays 2 random segments; this verifier requires at least 24",
    ]


def test_a_higher_replay_plan_replays_more_segments(pol_world, victim):
    usual = pol_world.verify(victim.proof_dir)
    thorough = pol_world.verify(
        victim.proof_dir, minimum_replay=ReplayPlan(top_q=1, random_segments=24)
    )
    assert usual.accepted and thorough.accepted
    random_picks = [s for s in thorough.segments if "random" in s.origins]
    assert len(random_picks) == 24
    assert len(thorough.segments) == len(usual.segments) + 16
