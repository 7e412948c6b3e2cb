"""Proof-of-learning on the bundled digits MLP: what verifying costs next to training, what a
proof weighs, and how far each known attack lands from honest replay noise.

The margin is the figure that matters: thresholds are honest noise times a margin, so an attack
is caught with room to spare only if its replay distance sits orders of magnitude above both.
Every proof and spoof is built fresh in this run; nothing needs a gateway.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.attestations import TrainingIntent, issue_training_intent
from zkgate.core.learning.archive import build_archive
from zkgate.core.learning.manifest import Manifest
from zkgate.core.learning.policy import CalibrationRecord, ReplayPlan, TrainingPolicy
from zkgate.core.signing import raw_public_key
from zkgate.pol import known_attacks, proof_files
from zkgate.pol.bundled_example_policy import digits_policy
from zkgate.pol.calibration import calibrate
from zkgate.pol.checkpoints import TrainingState, decode
from zkgate.pol.dataset import Dataset, digits_dataset
from zkgate.pol.recorder import record_training
from zkgate.pol.report import LearningReport, SegmentReport
from zkgate.pol.training import TrainingRun
from zkgate.pol.verification import verify_proof

RUNS = 5
THREAD_COUNTS = (1, 2)
# Attacks are verified under a few verifier nonces, so the blindfold spoof's random draw is not
# one lucky sample.
ATTACK_NONCES = tuple(bytes([n]) * 32 for n in range(3))
# A random draw larger than any segment count: the verifier replays every segment.
EVERY_SEGMENT = ReplayPlan(top_q=1, random_segments=10_000)
METRICS = ("l2", "update_ratio")
TINY_LR = 1e-7


@dataclass
class Lab:
    dataset: Dataset
    policy: TrainingPolicy
    gateway: Ed25519PrivateKey
    root: Path

    def intent(self, owner: Ed25519PrivateKey, policy: TrainingPolicy) -> TrainingIntent:
        return issue_training_intent(
            self.gateway,
            owner_public_key=raw_public_key(owner).hex(),
            policy_digest=policy.digest(),
            now_ms=int(time.time() * 1000),
        )

    def record(self, policy: TrainingPolicy, name: str) -> tuple[Path, Ed25519PrivateKey, float]:
        """Records an honest proof; returns its directory, its owner and the wall time."""
        owner = Ed25519PrivateKey.generate()
        intent = self.intent(owner, policy)
        out = self.root / name
        started = time.perf_counter()
        record_training(
            policy=policy, dataset=self.dataset, intent=intent, owner=owner, out_dir=out
        )
        return out, owner, time.perf_counter() - started

    def verify(
        self, proof_dir: Path, *, threads: int | None = None, nonce: bytes | None = None
    ) -> tuple[LearningReport, float]:
        started = time.perf_counter()
        report = verify_proof(
            proof_dir,
            trusted_issuers=[raw_public_key(self.gateway).hex()],
            verifier_nonce=nonce or os.urandom(32),
            threads=threads,
        )
        return report, time.perf_counter() - started


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


def measure_cost(lab: Lab) -> tuple[dict[str, float], list[LearningReport], Path]:
    """Interleaves recording and verifying so both see the same machine load. Returns the
    figures, every honest report (for the noise floor) and one default-plan proof."""
    full_policy = replace(lab.policy, replay=EVERY_SEGMENT)
    train: list[float] = []
    verify_default: list[float] = []
    verify_full: list[float] = []
    default_reports: list[LearningReport] = []
    full_reports: list[LearningReport] = []
    default_dir = lab.root
    for run in range(RUNS):
        default_dir, _, seconds = lab.record(lab.policy, f"honest-{run}")
        train.append(seconds)
        report, seconds = lab.verify(default_dir)
        verify_default.append(seconds)
        default_reports.append(report)
        full_dir, _, seconds = lab.record(full_policy, f"honest-full-{run}")
        train.append(seconds)
        for threads in THREAD_COUNTS:
            report, seconds = lab.verify(full_dir, threads=threads)
            if threads == lab.policy.threads:
                verify_full.append(seconds)
            full_reports.append(report)
    honest = default_reports + full_reports
    rejected = [r for r in honest if not r.accepted]
    if rejected:
        raise RuntimeError(f"an honest proof was rejected: {rejected[0].reasons}")
    figures = {
        "train_median_s": statistics.median(train),
        "verify_default_median_s": statistics.median(verify_default),
        "verify_default_structural_median_s": statistics.median(
            r.seconds["structural"] for r in default_reports
        ),
        "verify_default_replay_median_s": statistics.median(
            r.seconds["replay"] for r in default_reports
        ),
        "verify_every_segment_median_s": statistics.median(verify_full),
        "segments_total": float(default_reports[0].segments_total),
        "segments_replayed_default_median": float(
            statistics.median(len(r.segments) for r in default_reports)
        ),
    }
    figures["verify_default_over_train"] = (
        figures["verify_default_median_s"] / figures["train_median_s"]
    )
    figures["verify_every_segment_over_train"] = (
        figures["verify_every_segment_median_s"] / figures["train_median_s"]
    )
    return figures, honest, default_dir


def measure_storage(proof_dir: Path) -> dict[str, float]:
    checkpoints = sorted((proof_dir / "checkpoints").iterdir())
    sizes = [path.stat().st_size for path in checkpoints]
    return {
        "checkpoint_count": float(len(sizes)),
        "checkpoint_bytes_median": float(statistics.median(sizes)),
        "checkpoints_bytes_total": float(sum(sizes)),
        "dataset_bytes": float((proof_dir / proof_files.DATASET).stat().st_size),
        "proof_dir_bytes": float(
            sum(p.stat().st_size for p in proof_dir.rglob("*") if p.is_file())
        ),
        "archive_bytes": float(len(build_archive(proof_dir))),
    }


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


def _num(value: float | None, spec: str = ".2g") -> str:
    return "-" if value is None else format(value, spec)


def _listed(values: Iterable[int]) -> str:
    return ", ".join(str(v) for v in values)


def _size(count: float) -> str:
    return f"{count / 1024:,.1f} KiB"


def print_cost(
    policy: TrainingPolicy, calibration: CalibrationRecord, cost: dict[str, float], seconds: float
) -> None:
    train = cost["train_median_s"]
    calibrated_on = f"{calibration.seeds} seeds x threads {_listed(calibration.thread_counts)}"
    print(
        f"proof of learning: digits MLP {policy.architecture.sizes}, {policy.total_steps} SGD "
        f"steps, {cost['segments_total']:.0f} segments of {policy.checkpoint_interval} steps, "
        f"torch threads {policy.threads}; medians of {RUNS} runs"
    )
    rows = [
        ("record_training (train, write proof)", train),
        (
            f"verify_proof, default plan ({cost['segments_replayed_default_median']:.0f} segments)",
            cost["verify_default_median_s"],
        ),
        ("  of which structural checks", cost["verify_default_structural_median_s"]),
        ("  of which replay", cost["verify_default_replay_median_s"]),
        (
            f"verify_proof, every segment ({cost['segments_total']:.0f})",
            cost["verify_every_segment_median_s"],
        ),
        (f"calibrate ({calibrated_on}; once)", seconds),
    ]
    print(f"  {'':46} {'wall':>8}  {'/ training':>10}")
    for label, wall in rows:
        print(f"  {label:46} {wall:7.3f}s  {wall / train:9.2f}x")


def print_storage(storage: dict[str, float]) -> None:
    print("storage (one proof)")
    print(
        f"  checkpoints: {storage['checkpoint_count']:.0f} x "
        f"{storage['checkpoint_bytes_median']:,.0f} B (median) = "
        f"{_size(storage['checkpoints_bytes_total'])}"
    )
    print(f"  dataset.safetensors: {_size(storage['dataset_bytes'])}")
    print(f"  proof directory: {_size(storage['proof_dir_bytes'])}")
    print(f"  archive (zip, deflate): {_size(storage['archive_bytes'])}")


def print_margins(
    noise: dict[str, float],
    calibrated: dict[str, float],
    limits: dict[str, float],
    attacks: dict[str, dict[str, float | None]],
) -> None:
    print(
        f"margins: l2 gap and |update ratio - 1| (min over each attack's failing replayed "
        f"segments, {len(ATTACK_NONCES)} verifier nonces)"
    )
    header = f"  {'':34} {'l2':>8} {'/honest':>8} {'/thresh':>8}   {'|r-1|':>8} {'/honest':>8}"
    print(header + f" {'/thresh':>8}  failing")
    for label, values in (
        (f"honest max ({2 * RUNS} runs, threads {_listed(THREAD_COUNTS)})", noise),
        ("honest max (calibration record)", calibrated),
        ("threshold", limits),
    ):
        print(f"  {label:34} {values['l2']:8.2g} {'':8} {'':8}   {values['update_ratio']:8.2g}")
    for name, figures in attacks.items():
        cells = " ".join(
            f"{_num(figures[f'min_{m}']):>8} {_num(figures[f'min_{m}_over_honest']):>8} "
            f"{_num(figures[f'min_{m}_over_threshold']):>8}  "
            for m in METRICS
        )
        print(
            f"  {name:34} {cells}{figures['failing_segments']:.0f}/"
            f"{figures['replayed_segments']:.0f}"
        )


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="zkgate-bench-pol-") as tmp:
        dataset = digits_dataset()
        started = time.perf_counter()
        policy = calibrate(digits_policy(dataset), dataset)
        calibration_s = time.perf_counter() - started
        assert policy.calibration is not None
        lab = Lab(dataset, policy, Ed25519PrivateKey.generate(), Path(tmp))

        cost, honest, default_dir = measure_cost(lab)
        storage = measure_storage(default_dir)
        noise = honest_noise(honest)
        calibrated = {m: policy.calibration.honest_max[m] for m in METRICS}
        limits = {m: getattr(policy.thresholds, m) for m in METRICS}
        attacks = {
            name: attack_margin(lab, proof_dir, noise, limits)
            for name, proof_dir in build_attacks(lab).items()
        }

    print_cost(policy, policy.calibration, cost, calibration_s)
    print_storage(storage)
    print_margins(noise, calibrated, limits, attacks)
    return {
        "cost": {**cost, "calibrate_s": calibration_s},
        "storage": storage,
        "honest_max_measured": noise,
        "honest_max_calibration": calibrated,
        "thresholds": limits,
        "attacks": attacks,
    }


def main() -> None:
    run()


if __name__ == "__main__":
    main()
