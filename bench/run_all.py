"""All benchmarks in one run, so the ratios are taken side by side.

Run with `make bench`; figures go to stdout and to bench/results.json.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import (
    accuracy,
    batching,
    cli_startup,
    inference,
    learning,
    proof_stages,
    proving,
    retrieval,
    scale_out,
    verification,
    zoo,
)
from bench.harness import bench_session


def main() -> None:
    results: dict[str, object] = {"machine": f"{platform.machine()}, {platform.python_version()}"}
    # First, on a quiet machine: the command's start-up against a bare interpreter.
    results["cli_startup"] = cli_startup.run()
    print()
    with bench_session() as session:
        for name, module in (
            ("inference", inference),
            ("proving", proving),
            ("verification", verification),
        ):
            results[name] = module.run(session)
            print()
    # Proof-of-learning needs no gateway; it runs after the session so none competes with it.
    results["learning"] = learning.run()
    print()
    # Its own gateway and standalone provers, also after the shared session.
    results["scale_out"] = scale_out.run()
    print()
    # Builds its own circuits from the bundled model; no gateway either.
    batching_figures = batching.run()
    results["batching"] = batching_figures
    print()
    # Certificate costs from the batching figures just taken, and its own two circuits.
    results["accuracy"] = accuracy.run(batching_figures)
    print()
    results["retrieval"] = retrieval.run()
    print()
    # The model zoo three ways (bare ezkl, untuned, tuned); LeNet-5 alone takes about half an
    # hour and 11 GB.
    results["zoo"] = zoo.run()
    print()
    # Last: its own circuits up to logrows 19, and the most memory of any benchmark.
    results["proof_stages"] = proof_stages.run()
    print()
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"figures written to {out}")


if __name__ == "__main__":
    main()
