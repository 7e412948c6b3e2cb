"""Where a proof's time goes, at logrows 15 to 19: witness, reading and deserializing the
proving key, the prove itself, verify, storing the proof; with the key's size and peak RSS.

ezkl.prove takes the proving key as a path and reads it itself, so no timer outside the call can
split key loading from proving. ezkl times its own key load (`load_pk` logs "loaded proving key
in <Duration>" around File::open plus ProvingKey::read) and logs "proof started..." and "proof
took" around create_proof; its pyo3-log bridge hands each record to Python logging synchronously
(the call holds the GIL), so the records' timestamps cut the call into: its inputs (witness and
compiled circuit files), the key load, the SRS load, the proof, and writing the proof file.

The circuits are seeded random MLPs (width -> width -> width -> 10, ReLU, batch 1), the width
chosen so that the calibrated circuit lands at each logrows: rows grow with width squared, so
width 128 * sqrt(2)^(k - 15) doubles them at each step. Scales are fixed at 7 and the
range-check decomposition is registration's 1024 x 3, so calibration is one pass, not a search.

Each logrows is set up in one child process and proven in another, fresh one, as the prover's
worker proves in a child it keeps (worker/isolation.py); each child's ru_maxrss is its peak RSS.
The proving child makes two proofs, as production does, from the artifact store's local files:
- "cold": the child's first proof. The store checks each artifact's digest once per process
  (the first-proof check below, which reads the whole key), then the key is dropped from the
  page cache (fsync + POSIX_FADV_DONTNEED, checked with fincore when present) so that ezkl reads
  it from disk;
- "warm": the next proof in the same child, the key still in the page cache: the steady state
  of a prover that keeps proving the same model.

Run alone with `python -m bench.proof_stages [--max-logrows K]`; in `make bench` it stops at
$ZKGATE_BENCH_MAX_LOGROWS (default 19). On the idle 2-core machine 15 to 19 take 5.3 minutes,
plus about 5 the first time for the dev SRS files (kept in bench/.proof_stages); 19 is half of
it and needs about 5 GB for its proof, --max-logrows 17 takes about a minute.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import multiprocessing
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ezkl
import numpy as np

from zkgate.core.srs import verifier_slice_of_file
from zkgate.core.tensors import NamedTensor
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.circuits.ezkl_calls import (
    compute_witness,
    make_proof,
    verify_proof,
)
from zkgate.prover.circuits.proving import PROVING_ARTIFACTS
from zkgate.prover.circuits.witness_input import witness_input_json

LOGROWS = (15, 16, 17, 18, 19)
# So that `ZKGATE_BENCH_MAX_LOGROWS=17 make bench` saves the 19 case's minutes and memory.
DEFAULT_MAX_LOGROWS = int(os.environ.get("ZKGATE_BENCH_MAX_LOGROWS", "19"))
# Dev SRS files, kept between runs: gen_srs takes 2.5 minutes at k=19.
SRS_CACHE = Path(__file__).with_name(".proof_stages")
SCALE = 7
# Headroom over the estimate of a prove's peak RSS before it is attempted on a shared machine.
MEMORY_HEADROOM = 1.2

_T = TypeVar("_T")


def width(logrows: int) -> int:
    return round(128 * 2 ** ((logrows - 15) / 2))


def run(max_logrows: int = DEFAULT_MAX_LOGROWS, min_logrows: int = LOGROWS[0]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    previous_rss = 0
    with tempfile.TemporaryDirectory(prefix="zkgate-proof-stages-") as tmp:
        for logrows in (k for k in LOGROWS if min_logrows <= k <= max_logrows):
            # A circuit twice the size needs about twice the memory of the last one proven.
            needed = int(2 * previous_rss * MEMORY_HEADROOM)
            available = _available_memory()
            if needed > available:
                figures[str(logrows)] = {
                    "skipped": f"needs about {needed >> 20} MiB, {available >> 20} MiB available"
                }
                print(f"logrows {logrows}: skipped, {figures[str(logrows)]['skipped']}")
                break
            directory = Path(tmp) / f"k{logrows}"
            # Its own child too, so that gen_srs's memory does not count as setup's.
            srs, srs_s = _in_child(_dev_srs, logrows)
            built = _in_child(_build, logrows, directory, srs)
            built["srs_generated_s"] = srs_s
            proven = _in_child(_prove_twice, directory, built["artifacts"])
            previous_rss = proven["peak_rss_bytes"]
            figures[str(logrows)] = _summary(logrows, built, proven)
            shutil.rmtree(directory)
            print(
                f"logrows {logrows}: setup {built['setup_s']:.0f} s, proofs "
                f"{proven['cold']['total_s']:.1f} s (cold key) and "
                f"{proven['warm']['total_s']:.1f} s (warm)",
                flush=True,
            )
    _print(figures)
    return figures


def _in_child(call: Callable[..., _T], *args: object) -> _T:
    """call(*args) in a fresh process, so that its peak RSS is its own (spawn: no memory of
    this process comes along)."""
    with ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        return pool.submit(call, *args).result()


def _available_memory() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return sys.maxsize


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --- building a circuit at the given logrows (in its own child process) -----------------------


def _build(logrows: int, directory: Path, srs: Path) -> dict[str, Any]:
    """Model, settings, compiled circuit and keys, stored in an artifact store in directory as
    registration stores them; returns the artifacts' digests and the build's figures."""
    directory.mkdir(parents=True)
    onnx_path = directory / "model.onnx"
    x = _mlp_onnx(width(logrows), onnx_path, seed=logrows)
    witness_input = witness_input_json([NamedTensor.of("input", x)])
    (directory / "witness_input.json").write_bytes(witness_input)
    settings = directory / "settings.json"
    compiled = directory / "compiled"
    started = time.perf_counter()
    _calibrate(onnx_path, directory / "witness_input.json", settings)
    calibrated = json.loads(settings.read_text())
    if calibrated["run_args"]["logrows"] != logrows:
        raise RuntimeError(
            f"width {width(logrows)} calibrated to logrows {calibrated['run_args']['logrows']}, "
            f"not {logrows}"
        )
    ezkl.compile_circuit(str(onnx_path), str(compiled), str(settings))
    calibrate_compile_s = time.perf_counter() - started
    vk, pk = directory / "vk", directory / "pk"
    started = time.perf_counter()
    ezkl.setup(
        str(compiled),
        str(vk),
        str(pk),
        srs_path=str(srs),
        witness_path=None,
        disable_selector_compression=False,
    )
    setup_s = time.perf_counter() - started
    pk_bytes = pk.stat().st_size
    store = ArtifactStore(directory / "store")
    artifacts = {
        "compiled": store.put_file(compiled, move=True),
        "pk": store.put_file(pk, move=True),
        "settings": store.put_file(settings),
        "vk": store.put_file(vk, move=True),
        "srs": store.put_file(srs),
        "srs_slice": store.put_bytes(verifier_slice_of_file(srs)),
    }
    return {
        "artifacts": artifacts,
        "rows": int(calibrated["num_rows"]),
        "calibrate_compile_s": calibrate_compile_s,
        "setup_s": setup_s,
        "setup_peak_rss_bytes": _peak_rss_bytes(),
        "pk_bytes": pk_bytes,
    }


def _mlp_onnx(size: int, path: Path, *, seed: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A seeded random MLP size -> size -> size -> 10 with ReLU, batch 1, written to path;
    returns an input for it. Trained weights would change nothing in the circuit's cost."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    dims = [size, size, size, 10]
    nodes: list[Any] = []
    weights: list[Any] = []
    previous = "input"
    for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(dims)):
        weight = (rng.standard_normal((fan_out, fan_in)) / np.sqrt(fan_in)).astype(np.float32)
        bias = (0.1 * rng.standard_normal(fan_out)).astype(np.float32)
        weights += [
            numpy_helper.from_array(weight, f"w{layer}"),
            numpy_helper.from_array(bias, f"b{layer}"),
        ]
        last = layer == len(dims) - 2
        out = "output" if last else f"z{layer}"
        nodes.append(
            helper.make_node("Gemm", [previous, f"w{layer}", f"b{layer}"], [out], transB=1)
        )
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"h{layer}"]))
            previous = f"h{layer}"
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return rng.standard_normal((1, size)).astype(np.float32)


def _calibrate(onnx_path: Path, data: Path, settings: Path) -> None:
    """One calibration pass at a fixed scale: the logrows it finds is all this bench needs."""
    run_args: Any = ezkl.PyRunArgs()
    run_args.input_scale = run_args.param_scale = SCALE
    run_args.decomp_base, run_args.decomp_legs = 1024, 3
    ezkl.gen_settings(str(onnx_path), str(settings), py_run_args=run_args)
    # ezkl's stub declares no defaults for calibrate_settings' options.
    options: dict[str, Any] = {"scales": [SCALE], "max_logrows": max(LOGROWS)}
    ezkl.calibrate_settings(str(data), str(onnx_path), str(settings), "resources", **options)


def _dev_srs(logrows: int) -> tuple[Path, float | None]:
    """The cached dev SRS for logrows, made first if missing; (path, seconds spent making it)."""
    SRS_CACHE.mkdir(exist_ok=True)
    ignore = SRS_CACHE / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    path = SRS_CACHE / f"dev-k{logrows}.srs"
    if path.exists():
        return path, None
    partial = path.with_suffix(f".{os.getpid()}.partial")
    started = time.perf_counter()
    ezkl.gen_srs(str(partial), logrows)
    partial.replace(path)
    return path, time.perf_counter() - started


# --- proving twice in one child process, as a prover's handler process does --------------------


def _prove_twice(directory: Path, artifacts: dict[str, str]) -> dict[str, Any]:
    records = _capture_ezkl_records()
    store = ArtifactStore(directory / "store")
    witness_input = (directory / "witness_input.json").read_bytes()
    rounds: dict[str, Any] = {}
    for name in ("cold", "warm"):
        scratch = directory / f"scratch-{name}"
        scratch.mkdir()
        started = time.perf_counter()
        with store.local_files(artifacts, PROVING_ARTIFACTS) as local:
            check_s = time.perf_counter() - started
            rounds[name] = _one_proof(
                store, local, witness_input, scratch, records, cold=name == "cold"
            )
        rounds[name]["artifact_check_s"] = check_s
    rounds["peak_rss_bytes"] = _peak_rss_bytes()
    return rounds


def _one_proof(
    store: ArtifactStore,
    local: dict[str, Path],
    witness_input: bytes,
    scratch: Path,
    records: list[tuple[logging.LogRecord, float]],
    *,
    cold: bool,
) -> dict[str, Any]:
    """The steps of circuits/proving.py's _prove and the handler's store, each timed; the
    prove call is split by ezkl's own records."""
    figures: dict[str, Any] = {}
    data, witness, proof = (scratch / n for n in ("input.json", "witness.json", "proof.json"))
    with _timed(figures, "witness_s"):
        data.write_bytes(witness_input)
        compute_witness(
            "computing the witness", data=data, compiled=local["compiled"], witness=witness
        )
    if cold:
        _drop_from_page_cache(local["pk"])
    figures["pk_resident_bytes_before"] = _resident_bytes(local["pk"])
    records.clear()
    started, started_cpu = time.time(), _process_cpu_s()
    make_proof(
        "proving",
        witness=witness,
        compiled=local["compiled"],
        proving_key=local["pk"],
        proof=proof,
        srs=local["srs"],
    )
    figures.update(
        _split_prove_call(records, (started, started_cpu), (time.time(), _process_cpu_s()))
    )
    with _timed(figures, "verify_s"):
        verify_proof(
            proof,
            settings=local["settings"],
            verifying_key=local["vk"],
            srs_slice=local["srs_slice"],
        )
    with _timed(figures, "store_s"):
        store.put_bytes(proof.read_bytes())
    return figures


@contextmanager
def _timed(figures: dict[str, Any], key: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    figures[key] = time.perf_counter() - started


def _capture_ezkl_records() -> list[tuple[logging.LogRecord, float]]:
    """ezkl's INFO records from now on, kept instead of printed. pyo3-log caches logger levels,
    so this must run before the process's first ezkl call."""
    records: list[tuple[logging.LogRecord, float]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            # With the process's CPU seconds when ezkl logged: pyo3-log calls this from the
            # thread that logs, inside the call, so stages get CPU figures, which a busy
            # machine does not stretch the way it stretches wall time.
            records.append((record, _process_cpu_s()))

    ezkl_logger = logging.getLogger("ezkl")
    ezkl_logger.setLevel(logging.INFO)
    ezkl_logger.addHandler(Keep())
    ezkl_logger.propagate = False
    return records


_DURATION = re.compile(r"loaded proving key in ([0-9.]+)(ns|µs|us|ms|s)\b")
_UNIT_SECONDS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def _split_prove_call(
    records: list[tuple[logging.LogRecord, float]],
    started: tuple[float, float],
    ended: tuple[float, float],
) -> dict[str, float]:
    """The prove call from started to ended, each (time.time(), the clock of record.created;
    process CPU seconds), cut at ezkl's records: inputs | key load | SRS load | proof | writing
    the proof file. The key load's wall time is ezkl's own figure; its CPU time runs from the
    call's start (the inputs before it take milliseconds)."""
    marks: dict[str, tuple[logging.LogRecord, float]] = {}
    key_load_s = 0.0
    for record, cpu_s in records:
        message = record.getMessage()
        if match := _DURATION.search(message):
            marks["key_loaded"] = record, cpu_s
            key_load_s = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        elif message.startswith("proof started"):
            marks["proof_started"] = record, cpu_s
        elif message.startswith("proof took"):
            marks["proof_done"] = record, cpu_s
    if len(marks) != 3:
        raise RuntimeError(
            "ezkl did not log its key load and proof: "
            + "; ".join(record.getMessage() for record, _ in records[:10])
        )
    wall = {name: record.created for name, (record, _) in marks.items()}
    cpu = {name: cpu_s for name, (_, cpu_s) in marks.items()}
    return {
        "prove_call_s": ended[0] - started[0],
        "prove_inputs_s": wall["key_loaded"] - key_load_s - started[0],
        "key_load_s": key_load_s,
        "srs_load_s": wall["proof_started"] - wall["key_loaded"],
        "proof_s": wall["proof_done"] - wall["proof_started"],
        "proof_write_s": ended[0] - wall["proof_done"],
        "prove_call_cpu_s": ended[1] - started[1],
        "key_load_cpu_s": cpu["key_loaded"] - started[1],
        "proof_cpu_s": cpu["proof_done"] - cpu["proof_started"],
    }


def _process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _drop_from_page_cache(path: Path) -> None:
    """Evicts path's pages (dirty pages are written first: they cannot be dropped), so that the
    next read comes from disk; only this file, nothing else on the machine."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _resident_bytes(path: Path) -> int | None:
    """How much of path is in the page cache (util-linux fincore), None without fincore."""
    if shutil.which("fincore") is None:
        return None
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.strip())


# --- figures ----------------------------------------------------------------------------------


def _summary(logrows: int, built: dict[str, Any], proven: dict[str, Any]) -> dict[str, Any]:
    summary = {key: value for key, value in built.items() if key != "artifacts"}
    summary.update(
        width=width(logrows),
        prove_peak_rss_bytes=proven["peak_rss_bytes"],
        cold=proven["cold"],
        warm=proven["warm"],
    )
    for name in ("cold", "warm"):
        stages = proven[name]
        stages["total_s"] = sum(
            stages[key] for key in ("witness_s", "prove_call_s", "verify_s", "store_s")
        )
        stages["key_load_share"] = stages["key_load_s"] / stages["total_s"]
        stages["key_load_cpu_share"] = stages["key_load_cpu_s"] / stages["prove_call_cpu_s"]
    return summary


def _print(figures: dict[str, Any]) -> None:
    print(
        "where a proof's time goes, wall seconds (cold: the key read from disk, warm: from the "
        "page cache;\n  rest: the prove call's inputs, SRS load and proof file; "
        "share: key load of the total, and of the prove call's CPU seconds)"
    )
    print(
        "  k   pk MiB  round  witness  key load  proof   rest  verify  store   total  "
        "share  CPU share  1st check  peak RSS MiB"
    )
    for logrows, row in figures.items():
        if "skipped" in row:
            continue
        for name in ("cold", "warm"):
            s = row[name]
            rest = s["prove_call_s"] - s["key_load_s"] - s["proof_s"]
            check = f"{s['artifact_check_s']:>9.2f}" if name == "cold" else " " * 9
            print(
                f"  {logrows}  {row['pk_bytes'] / 2**20:>6.0f}  {name:<5}  "
                f"{s['witness_s']:>7.2f}  {s['key_load_s']:>8.2f}  {s['proof_s']:>6.1f}  "
                f"{rest:>5.2f}  {s['verify_s']:>6.3f}  {s['store_s']:>5.3f}  "
                f"{s['total_s']:>6.1f}  {s['key_load_share']:>5.1%}  "
                f"{s['key_load_cpu_share']:>9.1%}  {check}  "
                f"{row['prove_peak_rss_bytes'] / 2**20:>12.0f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-logrows", type=int, default=DEFAULT_MAX_LOGROWS, choices=LOGROWS)
    parser.add_argument("--min-logrows", type=int, default=LOGROWS[0], choices=LOGROWS)
    args = parser.parse_args()
    figures = run(args.max_logrows, args.min_logrows)
    # Into the file run_all writes, beside the other benchmarks' figures.
    out = Path(__file__).with_name("results.json")
    results = json.loads(out.read_text()) if out.exists() else {}
    results["proof_stages"] = figures
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"figures written to {out}")


if __name__ == "__main__":
    main()
