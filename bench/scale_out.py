"""Proof throughput with one and two prover processes, and inference latency while the provers
are saturated against idle: all in one run, on one gateway (no local workers) with standalone
`zkgate prover` processes on its data directory.

Provers run at niceness 10, as the gateway's embedded provers do, so that inference keeps the
CPU it needs. Run alone with `.venv/bin/python bench/scale_out.py`; `make bench` runs it too.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import percentile_ms
from tests.fixtures.gateway_fixtures import (
    DIGITS,
    RunningGateway,
    RunningProver,
    register,
    start_gateway,
)
from zkgate.client import Client
from zkgate.wire import zkgate_pb2 as pb

PROOFS_PER_RUN = 12
INFERENCES = 1500
PROVER_NICE = 10


def _prove_all(gateway: RunningGateway, rows: npt.NDArray[np.float32]) -> float:
    """Proofs per second for a burst of distinct requests, from the first enqueue to the last
    stored proof."""
    with gateway.client() as client:
        start = time.perf_counter()
        jobs = [client.infer("digits", {"input": row}, prove=True).job_id for row in rows]
        for job_id in jobs:
            assert job_id is not None
            assert client.wait_for_job(job_id, timeout=600).state == pb.JOB_STATE_SUCCEEDED
        return len(rows) / (time.perf_counter() - start)


def _latencies(client: Client, row: npt.NDArray[np.float32], count: int) -> list[float]:
    for _ in range(50):
        client.infer("digits", {"input": row})
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        client.infer("digits", {"input": row})
        samples.append(time.perf_counter() - t0)
    return samples


def _while(
    background: Callable[[], float], foreground: Callable[[], list[float]]
) -> tuple[float, list[float]]:
    result: list[float] = []
    thread = threading.Thread(target=lambda: result.append(background()))
    thread.start()
    time.sleep(1.0)  # let the provers pick the backlog up
    samples = foreground()
    thread.join()
    return result[0], samples


def run() -> dict[str, float]:
    rows = np.load(DIGITS / "test_inputs.npy").astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="zkgate-bench-scale-") as tmp:
        data_dir = Path(tmp)
        gateway = start_gateway(data_dir, workers=0)
        provers = [RunningProver(f"bench-prover-{n}", data_dir, nice=PROVER_NICE) for n in range(2)]
        try:
            provers[0].start()
            with gateway.client() as client:
                register(client, "digits", DIGITS / "model.onnx")
                idle = _latencies(client, rows[0], INFERENCES)
                one = _prove_all(gateway, rows[1 : 1 + PROOFS_PER_RUN])
                provers[1].start()
                two, busy = _while(
                    lambda: _prove_all(gateway, rows[20 : 20 + 2 * PROOFS_PER_RUN]),
                    lambda: _latencies(client, rows[0], INFERENCES),
                )
        finally:
            gateway.stop()
            for prover in provers:
                prover.stop()
    figures = {
        "proofs_per_second_1_prover": one,
        "proofs_per_second_2_provers": two,
        "throughput_ratio_2_over_1": two / one,
        "infer_p50_ms_idle": percentile_ms(idle, 50),
        "infer_p99_ms_idle": percentile_ms(idle, 99),
        "infer_p50_ms_provers_saturated": percentile_ms(busy, 50),
        "infer_p99_ms_provers_saturated": percentile_ms(busy, 99),
    }
    figures["infer_p99_ratio_saturated_over_idle"] = (
        figures["infer_p99_ms_provers_saturated"] / figures["infer_p99_ms_idle"]
    )
    print("scale-out (one gateway, standalone provers at nice 10, bundled model)")
    print(
        f"  proof throughput  1 prover {one:.2f}/s   2 provers {two:.2f}/s   "
        f"ratio {figures['throughput_ratio_2_over_1']:.2f}x"
    )
    print(
        f"  ModelInfer        idle p50 {figures['infer_p50_ms_idle']:.2f} ms p99 "
        f"{figures['infer_p99_ms_idle']:.2f} ms   provers saturated p50 "
        f"{figures['infer_p50_ms_provers_saturated']:.2f} ms p99 "
        f"{figures['infer_p99_ms_provers_saturated']:.2f} ms   p99 ratio "
        f"{figures['infer_p99_ratio_saturated_over_idle']:.2f}x"
    )
    return figures


if __name__ == "__main__":
    run()
