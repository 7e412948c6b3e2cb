"""The proof-of-learning bench's lab: honest proofs recorded and verified on one machine, and
what they cost in time and in storage."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.attestations import TrainingIntent, issue_training_intent
from zkgate.core.learning.archive import build_archive
from zkgate.core.learning.policy import ReplayPlan, TrainingPolicy
from zkgate.core.signing import raw_public_key
from zkgate.pol import proof_files
from zkgate.pol.dataset import Dataset
from zkgate.pol.recorder import record_training
from zkgate.pol.report import LearningReport
from zkgate.pol.verification import verify_proof

RUNS = 5
THREAD_COUNTS = (1, 2)
# A random draw larger than any segment count: the verifier replays every segment.
EVERY_SEGMENT = ReplayPlan(top_q=1, random_segments=10_000)


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
    return cost_figures(train, verify_default, verify_full, default_reports), honest, default_dir


def cost_figures(
    train: list[float],
    verify_default: list[float],
    verify_full: list[float],
    default_reports: list[LearningReport],
) -> dict[str, float]:
    """Medians of the timings, and verifying's cost as a multiple of training's."""
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
    return figures


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
