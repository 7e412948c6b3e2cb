"""One proof made in a fresh process of its own, measured: wall seconds and peak resident memory.

Registration's test proof is the figure a card states and provers are matched by, so it must be
what a prover will see. In the registering process the high-water mark would include setup and
calibration, which need more memory than a proof, and in a forked child it would include the
parent's pages; a new interpreter that imports ezkl and proves once measures the proof alone
(plus the interpreter, which a prover's child carries too).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from zkgate.prover.circuits.ezkl_calls import ProvingError, make_proof

_KIB = 1024


@dataclass(frozen=True)
class ProofMeasurement:
    seconds: float
    peak_rss_bytes: int


def measured_proof(
    what: str, *, witness: Path, compiled: Path, proving_key: Path, proof: Path, srs: Path
) -> ProofMeasurement:
    """Proves witness into proof in a child process and returns what it cost; a failed proof
    raises ProvingError with ezkl's message."""
    paths = [str(p) for p in (witness, compiled, proving_key, proof, srs)]
    done = subprocess.run(
        [sys.executable, "-m", __name__, what, *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise ProvingError(lines[-1] if lines else f"{what} failed (exit {done.returncode})")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return ProofMeasurement(
        seconds=float(report["seconds"]), peak_rss_bytes=int(report["peak_rss_bytes"])
    )


def _main(what: str, witness: str, compiled: str, proving_key: str, proof: str, srs: str) -> None:
    started = time.monotonic()
    try:
        make_proof(
            what,
            witness=Path(witness),
            compiled=Path(compiled),
            proving_key=Path(proving_key),
            proof=Path(proof),
            srs=Path(srs),
        )
    except ProvingError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None
    seconds = time.monotonic() - started
    print(json.dumps({"seconds": seconds, "peak_rss_bytes": _peak_rss_bytes()}))


def _peak_rss_bytes() -> int:
    """This process's own high-water mark. Not getrusage's ru_maxrss: Linux keeps that across
    fork and exec, so a child of a large process reports its parent's peak (seen: 3.6 GB for
    every proof measured from a benchmark that had held a big model). VmHWM belongs to the
    address space, which exec replaces."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * _KIB
    raise RuntimeError("/proc/self/status has no VmHWM line")


if __name__ == "__main__":
    _main(*sys.argv[1:])
