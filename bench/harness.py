"""A benchmark session: one real gateway with the bundled model registered, shared by all
benchmarks so their ratios are taken side by side in one run."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fixtures.gateway_fixtures import (  # noqa: E402
    DIGITS,
    RegisteredModel,
    RunningGateway,
    register,
    start_gateway,
)


@dataclass(frozen=True)
class BenchSession:
    gateway: RunningGateway
    model: RegisteredModel
    onnx_path: Path
    inputs: npt.NDArray[np.float32]


@contextmanager
def bench_session(workers: int = 1) -> Iterator[BenchSession]:
    with tempfile.TemporaryDirectory(prefix="zkgate-bench-") as tmp:
        gateway = start_gateway(Path(tmp), workers=workers)
        try:
            with gateway.client() as client:
                model = register(client, "digits", DIGITS / "model.onnx")
            yield BenchSession(
                gateway=gateway,
                model=model,
                onnx_path=DIGITS / "model.onnx",
                inputs=np.load(DIGITS / "test_inputs.npy").astype(np.float32),
            )
        finally:
            gateway.stop()


def percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000.0, q))
