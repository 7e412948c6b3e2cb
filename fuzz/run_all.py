"""Runs every fuzz target one after another, sharing a time budget.

    python fuzz/run_all.py --seconds 3600 --out /tmp/fuzz-run [--targets a,b]

Per target T (in fuzz/targets.py order), with S = seconds / number of targets:
    OUT/corpus/T/      the corpus (seeded by fuzz/seed_corpus.py, grown by libFuzzer)
    OUT/artifacts/T/   undocumented exceptions, one .input/.txt pair per distinct failure,
                       and libFuzzer's own crash-/timeout-/oom- files
    OUT/logs/T.log     libFuzzer's output
and OUT/summary.txt lists the failures found, per target, when the run ends.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fuzz.targets import TARGETS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=600, help="total budget, all targets")
    parser.add_argument("--out", type=Path, default=REPO / "fuzz" / "out")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--max-len", type=int, default=131072)
    parser.add_argument(
        "--rss-limit-mb",
        type=int,
        default=8192,
        help="libFuzzer's memory limit per target (see fuzz/README.md, known limit)",
    )
    args = parser.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    share = max(10, args.seconds // len(targets))
    out: Path = args.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    if not (out / "corpus").is_dir():
        subprocess.run(
            [sys.executable, str(REPO / "fuzz" / "seed_corpus.py"), str(out / "corpus")],
            check=True,
        )
    for target in targets:
        artifacts = out / "artifacts" / target
        artifacts.mkdir(parents=True, exist_ok=True)
        log = out / "logs" / f"{target}.log"
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{started} {target}: {share} s, log {log}", flush=True)
        with log.open("ab") as sink:
            subprocess.run(
                [
                    sys.executable,
                    str(REPO / "fuzz" / f"fuzz_{target}.py"),
                    str(out / "corpus" / target),
                    f"-max_total_time={share}",
                    f"-max_len={args.max_len}",
                    "-timeout=60",
                    f"-rss_limit_mb={args.rss_limit_mb}",
                    "-print_final_stats=1",
                    f"-artifact_prefix={artifacts}/",
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, "ZKGATE_FUZZ_ARTIFACTS": str(artifacts)},
                check=False,
            )
    summary = ["Undocumented exceptions found (entry point, exception, innermost zkgate frame):"]
    for target in targets:
        for report in sorted((out / "artifacts" / target).glob("*.txt")):
            signature = next(
                (line for line in report.read_text().splitlines() if line.startswith("signature")),
                report.name,
            )
            summary.append(f"  {target}: {signature} ({report.with_suffix('.input')})")
        for crash in sorted((out / "artifacts" / target).glob("*-*")):
            if crash.name.startswith(("crash-", "timeout-", "oom-", "slow-unit-")):
                summary.append(f"  {target}: libFuzzer {crash.name}")
    (out / "summary.txt").write_text("\n".join(summary) + "\n")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
