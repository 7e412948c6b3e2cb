"""Proof-of-learning on the bundled digits MLP: what verifying costs next to training, what a
proof weighs, and how far each known attack lands from honest replay noise.

The margin is the figure that matters: thresholds are honest noise times a margin, so an attack
is caught with room to spare only if its replay distance sits orders of magnitude above both.
Every proof and spoof is built fresh in this run; nothing needs a gateway. The lab, the attacks
and the printed tables are bench/learning_lab.py, learning_attacks.py and learning_figures.py.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# Run alone as `python bench/learning.py`, the bench package is found from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.learning_attacks import METRICS, attack_margin, build_attacks, honest_noise
from bench.learning_figures import print_cost, print_margins, print_storage
from bench.learning_lab import Lab, measure_cost, measure_storage
from zkgate.pol.bundled_example_policy import digits_policy
from zkgate.pol.calibration import calibrate
from zkgate.pol.dataset import digits_dataset


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
