"""Start-up of the `zkgate` command on this (full) install, beside a bare `python -c pass`.

Every run of `zkgate` builds a parser holding the subcommands of every installed zkgate package;
with zkgate-pol installed that used to import torch (1.9 s of CPU before any work). The figures
here are whole processes, timed from outside: wall seconds from start to exit and the children's
CPU seconds, the median of ROUNDS runs after one warm-up each.

Run alone with `python bench/cli_startup.py`.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROUNDS = 10


def _zkgate() -> str:
    beside = Path(sys.executable).with_name("zkgate")
    return str(beside) if beside.exists() else shutil.which("zkgate") or "zkgate"


def commands() -> dict[str, list[str]]:
    zkgate = _zkgate()
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "zkgate --help": [zkgate, "--help"],
        "zkgate verify --help": [zkgate, "verify", "--help"],
        "zkgate --version": [zkgate, "--version"],
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(argv: list[str], rounds: int = ROUNDS) -> dict[str, float]:
    """Median wall and CPU seconds of `rounds` runs, after one warm-up run."""
    subprocess.run(argv, capture_output=True, check=True, timeout=120)
    walls, cpus = [], []
    for _ in range(rounds):
        cpu_before = _children_cpu()
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True, timeout=120)
        walls.append(time.perf_counter() - started)
        cpus.append(_children_cpu() - cpu_before)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus)}


def run() -> dict[str, dict[str, float]]:
    figures = {name: time_command(argv) for name, argv in commands().items()}
    bare = figures["python -c pass"]["wall_s"]
    print(f"CLI start-up, median of {ROUNDS} runs (whole process)")
    print(f"{'command':<24} {'wall s':>8} {'cpu s':>8} {'x python':>9}")
    for name, figure in figures.items():
        figure["wall_over_python"] = figure["wall_s"] / bare
        print(
            f"{name:<24} {figure['wall_s']:>8.3f} {figure['cpu_s']:>8.3f} "
            f"{figure['wall_over_python']:>9.1f}"
        )
    return figures


if __name__ == "__main__":
    run()
