"""Client verification time: the full `verify` against the bare ezkl.verify it wraps."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import ezkl

from bench.harness import BenchSession
from zkgate.client import verify

ROUNDS = 20


def run(session: BenchSession) -> dict[str, float]:
    with session.gateway.client() as client:
        prediction = client.infer(session.model.name, {"input": session.inputs[0]}, prove=True)
        assert prediction.job_id is not None
        proof = client.wait_for_proof(prediction.job_id)
        bundle = client.bundle(session.model.name)
        key = client.gateway_key()

    full: list[float] = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        verify(
            prediction,
            proof,
            bundle,
            pinned_commitment=session.model.commitment,
            gateway_public_key=key,
            allow_insecure_srs=True,
        )
        full.append(time.perf_counter() - t0)

    bare: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        bundle.save(Path(tmp))
        proof_path = Path(tmp) / "proof.json"
        proof_path.write_bytes(proof)
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            ezkl.verify(
                str(proof_path),
                str(Path(tmp) / "settings.json"),
                str(Path(tmp) / "verifying.key"),
                str(Path(tmp) / "srs-slice.srs"),
                reduced_srs=False,
            )
            bare.append(time.perf_counter() - t0)

    figures = {
        "client_verify_median_ms": statistics.median(full) * 1000,
        "bare_ezkl_verify_median_ms": statistics.median(bare) * 1000,
        "proof_bytes": float(len(proof)),
    }
    figures["verify_ratio_client_over_bare"] = (
        figures["client_verify_median_ms"] / figures["bare_ezkl_verify_median_ms"]
    )
    print(f"verification ({ROUNDS} rounds, proof {len(proof):,} bytes)")
    print(f"  client verify (all checks)  median {figures['client_verify_median_ms']:.1f} ms")
    print(f"  bare ezkl.verify            median {figures['bare_ezkl_verify_median_ms']:.1f} ms")
    print(f"  ratio client / bare: {figures['verify_ratio_client_over_bare']:.2f}x")
    return figures


if __name__ == "__main__":
    from bench.harness import bench_session

    with bench_session() as s:
        run(s)
