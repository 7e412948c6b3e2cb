"""The known attacks on proof-of-learning, built fresh against the lab's policy, and how far
each lands from honest replay noise and from the thresholds."""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.learning_lab import Lab
from zkgate.core.learning.manifest import Manifest
from zkgate.core.learning.policy import TrainingPolicy
from zkgate.pol import known_attacks, proof_files
from zkgate.pol.checkpoints import TrainingState, decode
from zkgate.pol.report import LearningReport, SegmentReport
from zkgate.pol.training import TrainingRun

# Attacks are verified under a few verifier nonces, so the blindfold spoof's random draw is not
# one lucky sample.
ATTACK_NONCES = tuple(bytes([n]) * 32 for n in range(3))
METRICS = ("l2", "update_ratio")
TINY_LR = 1e-7


def distances(segment: SegmentReport) -> dict[str, float]:
    """A segment's l2 gap and |update ratio - 1|; infinite where the report holds None (the
    replay or the log had no finite value, which is as far as a gap gets)."""
    return {
        "l2": math.inf if segment.l2 is None else segment.l2,
        "update_ratio": math.inf
        if segment.update_ratio is None
        else abs(segment.update_ratio - 1.0),
    }


def ratio(value: float | None, reference: float) -> float | None:
    if value is None or reference <= 0 or not math.isfinite(value):
        return None
    return value / reference


def finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def final_params(proof_dir: Path) -> known_attacks.Params:
    manifest = Manifest.from_json((proof_dir / proof_files.MANIFEST).read_bytes())
    entry = manifest.checkpoints[-1]
    return decode(
        (proof_dir / entry.file).read_bytes(), expected_step=entry.step, what="final"
    ).params


def spoof_proof(
    lab: Lab,
    name: str,
    make_states: Callable[[TrainingRun, TrainingPolicy, bytes], list[TrainingState]],
    *,
    policy: TrainingPolicy | None = None,
    run_type: type[TrainingRun] = TrainingRun,
) -> Path:
    """A proof an attacker builds from made-up states under a genuine intent for `policy` (the
    registered one unless the attack claims another): only the states are false."""
    claimed = policy or lab.policy
    attacker = Ed25519PrivateKey.generate()
    intent = lab.intent(attacker, claimed)
    out = lab.root / name
    known_attacks.write_proof(
        out,
        intent=intent,
        policy=claimed,
        dataset=lab.dataset,
        states=make_states(run_type(claimed, lab.dataset, intent.seed()), claimed, intent.seed()),
        owner=attacker,
    )
    return out


def interpolate(
    stolen: known_attacks.Params,
) -> Callable[[TrainingRun, TrainingPolicy, bytes], list[TrainingState]]:
    def states(_: TrainingRun, policy: TrainingPolicy, seed: bytes) -> list[TrainingState]:
        start = known_attacks.rank_matched_init(stolen, policy, seed)
        return known_attacks.interpolation_states(start, stolen, policy.checkpoint_steps())

    return states


def build_attacks(lab: Lab) -> dict[str, Path]:
    """Each attack on a fresh honest "victim" run: tampering rewrites a copy of it, the
    interpolation and blindfold spoofs end on its stolen final weights."""
    victim, victim_owner, _ = lab.record(lab.policy, "victim")
    tampered = lab.root / "tampered"
    shutil.copytree(victim, tampered)
    known_attacks.tamper_checkpoint(tampered, victim_owner, index=1)
    stolen = final_params(victim)
    return {
        "tampered checkpoint (1e-2 noise)": tampered,
        "reordered batches": spoof_proof(
            lab,
            "reordered",
            lambda run, policy, _: known_attacks.train_states(run, policy),
            run_type=known_attacks.ReorderedRun,
        ),
        "interpolation, rank-matched init": spoof_proof(lab, "interpolation", interpolate(stolen)),
        f"same, claiming lr {TINY_LR:g}, k=1": spoof_proof(
            lab,
            "infinitesimal",
            interpolate(stolen),
            policy=known_attacks.infinitesimal_policy(
                lab.policy, lr=TINY_LR, epochs=2 * lab.policy.epochs
            ),
        ),
        "blindfold top-Q": spoof_proof(
            lab,
            "blindfold",
            lambda run, policy, _: known_attacks.blindfold_states(run, policy, stolen),
        ),
    }


def honest_noise(reports: Iterable[LearningReport]) -> dict[str, float]:
    noise = dict.fromkeys(METRICS, 0.0)
    for report in reports:
        for segment in report.segments:
            for metric, value in distances(segment).items():
                noise[metric] = max(noise[metric], value)
    return noise


def attack_margin(
    lab: Lab, proof_dir: Path, noise: dict[str, float], limits: dict[str, float]
) -> dict[str, float | None]:
    """The smallest distance over the attack's failing replayed segments, pooled over nonces:
    the attack's best showing against the verifier."""
    closest = dict.fromkeys(METRICS, math.inf)
    failing = replayed = 0
    for nonce in ATTACK_NONCES:
        report, _ = lab.verify(proof_dir, nonce=nonce)
        if report.accepted:
            raise RuntimeError(f"the verifier accepted the spoof in {proof_dir.name}")
        replayed += len(report.segments)
        for segment in report.segments:
            if segment.passed:
                continue
            failing += 1
            for metric, value in distances(segment).items():
                closest[metric] = min(closest[metric], value)
    figures: dict[str, float | None] = {
        "failing_segments": float(failing),
        "replayed_segments": float(replayed),
    }
    for metric in METRICS:
        nearest = finite(closest[metric])
        figures[f"min_{metric}"] = nearest
        figures[f"min_{metric}_over_honest"] = ratio(nearest, noise[metric])
        figures[f"min_{metric}_over_threshold"] = ratio(nearest, limits[metric])
    return figures
