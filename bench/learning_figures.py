"""The proof-of-learning bench's printed tables: cost next to training, storage, and each
attack's margin over honest noise and over the thresholds."""

from __future__ import annotations

from collections.abc import Iterable

from bench.learning_attacks import ATTACK_NONCES, METRICS
from bench.learning_lab import RUNS, THREAD_COUNTS
from zkgate.core.learning.policy import CalibrationRecord, TrainingPolicy


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
