"""Proving requests with a registered model's stored artifacts, with real ezkl."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ezkl
import numpy as np
import onnxruntime as ort
import pytest

from tests.fixtures.prover_fixtures import DIGITS_DIR, PROVER_MODEL, ProverNode
from zkgate.core.card import ModelCard
from zkgate.core.tensors import NamedTensor, TensorError
from zkgate.prover.circuits.ezkl_calls import ProvingError
from zkgate.prover.circuits.proving import PROVING_ARTIFACTS, ArtifactVersionMismatch, prove
from zkgate.prover.circuits.witness_input import witness_input_json
from zkgate.prover.queue.jobs import Job, JobKind, JobState
from zkgate.prover.worker.loop import DeterministicJobError


def _local_files(node: ProverNode, card: ModelCard) -> dict[str, Path]:
    """The node's own stored files: its store is a directory without a cache."""
    return {name: node.store.path(card.artifacts[name]) for name in PROVING_ARTIFACTS}


def _enqueue_proof(node: ProverNode, commitment: str, sample: np.ndarray) -> Job:
    witness_input = witness_input_json([NamedTensor.of("input", sample)])
    job, _ = node.queue.enqueue(
        JobKind.PROVE,
        PROVER_MODEL,
        {
            "commitment": commitment,
            "input_digest": "0" * 64,
            "witness_input_digest": node.store.put_bytes(witness_input),
        },
    )
    return job


@pytest.fixture(scope="module")
def proof_of_sample(
    prover_node: ProverNode, prover_digits: ModelCard, digits_samples: np.ndarray
) -> dict[str, object]:
    """The prove handler's proof of calibration sample 5, as stored."""
    _enqueue_proof(prover_node, prover_digits.commitment, digits_samples[5])
    _, result = prover_node.run_next(JobKind.PROVE)
    proof: dict[str, object] = json.loads(prover_node.store.read_bytes(result["proof_digest"]))
    return proof


def test_proof_verifies_against_stored_vk_settings_and_slice(
    prover_node: ProverNode,
    prover_digits: ModelCard,
    proof_of_sample: dict[str, object],
    tmp_path: Path,
) -> None:
    files = {}
    for name in ("vk", "settings", "srs_slice"):
        files[name] = tmp_path / name
        files[name].write_bytes(prover_node.store.read_bytes(prover_digits.artifacts[name]))
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(proof_of_sample))
    assert ezkl.verify(
        str(proof), str(files["settings"]), str(files["vk"]), str(files["srs_slice"]), False
    )
    # The check is real: the same proof with two outputs swapped is rejected.
    tampered = dict(proof_of_sample)
    instances = [list(row) for row in tampered["instances"]]  # type: ignore[attr-defined]
    instances[0][-1], instances[0][-2] = instances[0][-2], instances[0][-1]
    tampered["instances"] = instances
    proof.write_text(json.dumps(tampered))
    with pytest.raises(RuntimeError):
        ezkl.verify(
            str(proof), str(files["settings"]), str(files["vk"]), str(files["srs_slice"]), False
        )


def test_proven_outputs_match_onnxruntime_within_the_card_tolerance(
    prover_digits: ModelCard, proof_of_sample: dict[str, object], digits_samples: np.ndarray
) -> None:
    instances = proof_of_sample["instances"][0]  # type: ignore[index]
    assert len(instances) == 64 + 10
    proven_input = [ezkl.felt_to_float(f, prover_digits.input_scale) for f in instances[:64]]
    np.testing.assert_allclose(proven_input, digits_samples[5].ravel(), atol=2**-10)
    proven = np.array([ezkl.felt_to_float(f, prover_digits.output_scale) for f in instances[64:]])
    session = ort.InferenceSession(str(DIGITS_DIR / "model.onnx"))
    served = session.run(None, {"input": digits_samples[5]})[0].ravel()
    assert np.max(np.abs(proven - served)) <= prover_digits.fidelity.tolerance
    assert np.argmax(proven) == np.argmax(served)


def test_artifacts_of_another_ezkl_version_are_refused(
    prover_node: ProverNode, prover_digits: ModelCard, digits_samples: np.ndarray, tmp_path: Path
) -> None:
    old = dataclasses.replace(prover_digits, ezkl_version="22.0.0")
    with pytest.raises(ArtifactVersionMismatch, match=r"built with ezkl 22\.0\.0.*ezkl=="):
        prove(
            old,
            _local_files(prover_node, old),
            witness_input=witness_input_json([NamedTensor.of("input", digits_samples[0])]),
            scratch=tmp_path,
        )
    assert list(tmp_path.iterdir()) == []


def test_input_of_the_wrong_size_is_refused(
    prover_node: ProverNode, prover_digits: ModelCard, tmp_path: Path
) -> None:
    with pytest.raises(ProvingError, match=r"inputs of \[64\] values.*\[3\]"):
        prove(
            prover_digits,
            _local_files(prover_node, prover_digits),
            witness_input=witness_input_json([NamedTensor.of("input", np.ones(3, np.float32))]),
            scratch=tmp_path,
        )


def test_prove_job_for_a_replaced_model_is_refused(
    prover_node: ProverNode, prover_digits: ModelCard, digits_samples: np.ndarray
) -> None:
    _enqueue_proof(prover_node, "ab" * 32, digits_samples[0])
    with pytest.raises(DeterministicJobError, match=r"has no version (ab){32} \(the job's\)"):
        prover_node.run_next(JobKind.PROVE)
    assert list(prover_node.layout.scratch.iterdir()) == []


def test_witness_input_json_is_canonical_and_refuses_nan() -> None:
    x = np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 64)
    first = witness_input_json([NamedTensor.of("input", x)])
    assert first == witness_input_json([NamedTensor.of("input", x.copy())])
    assert json.loads(first) == {"input_data": [x.ravel().astype(np.float64).tolist()]}
    x[0, 3] = np.nan
    with pytest.raises(TensorError, match="NaN"):
        witness_input_json([NamedTensor.of("input", x)])


def test_worker_process_runs_jobs_at_lower_priority_and_stops_on_sigterm(
    prover_node: ProverNode, prover_digits: ModelCard, digits_samples: np.ndarray
) -> None:
    """A job the worker can fail fast (its model version is gone) shows the whole loop: claim,
    handler, deterministic failure recorded, then a clean exit on SIGTERM."""
    job = _enqueue_proof(prover_node, "cd" * 32, digits_samples[0])
    process = subprocess.Popen(
        [sys.executable, "-m", "zkgate.prover", "--worker-id", "proc-1", "--nice", "7"],
        env={**os.environ, "ZKGATE_DATA_DIR": str(prover_node.layout.root)},
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while prover_node.queue.get(job.id).state != JobState.FAILED:
            assert time.monotonic() < deadline, "the worker did not process the job"
            assert process.poll() is None, "the worker exited early"
            time.sleep(0.1)
        assert (
            os.getpriority(os.PRIO_PROCESS, process.pid) == os.getpriority(os.PRIO_PROCESS, 0) + 7
        )
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr.decode()
    failed = prover_node.queue.get(job.id)
    assert failed.attempts == 1
    assert failed.lease_owner == "proc-1/prove"  # the worker id, then the lane
    assert failed.error is not None and f"has no version {'cd' * 32} (the job's)" in failed.error
    assert b"received SIGTERM" in stderr
