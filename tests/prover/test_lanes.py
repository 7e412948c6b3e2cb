"""Lanes and memory routing with real prover processes (`python -m zkgate.prover`) on the
session's data directory: its SQLite queue, its registered digits model, real ezkl.

One registration serves two checks. It runs on a prover whose budget (1 MiB) holds less than
any proof, so it ends refused with the figure its test proof needed; until then it keeps the
prover's registration lane busy for seconds, and a proof sent meanwhile must finish in the
other lane before it does.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.prover_fixtures import DIGITS_DIR, PROVER_MODEL, ProverNode
from zkgate.core.card import ModelCard
from zkgate.core.tensors import NamedTensor
from zkgate.prover.circuits.witness_input import witness_input_json
from zkgate.prover.memory_sizes import describe_size
from zkgate.prover.queue.catalog import ModelState
from zkgate.prover.queue.jobs import Job, JobKind, JobState
from zkgate.prover.worker.lanes import parse_lanes
from zkgate.prover.worker.process import ConfigError, add_worker_arguments, config_from_args

TINY_BUDGET = 1024**2
WORKER_NICE = 2
REGISTRATION_NICE = 10


def _start_prover(node: ProverNode, worker_id: str, *args: str) -> subprocess.Popen[bytes]:
    log = (node.layout.root / f"{worker_id}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "zkgate.prover", "--worker-id", worker_id, *args],
        env={**os.environ, "ZKGATE_DATA_DIR": str(node.layout.root)},
        stdout=log,
        stderr=subprocess.STDOUT,
        # A session of its own: a failed test kills the worker and its children together.
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[bytes], timeout: float = 300) -> int:
    """SIGTERM, then the jobs in hand finish; killed (group and all) if they do not."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


def _wait_for(
    node: ProverNode, job_id: str, states: set[JobState], timeout: float, *processes: object
) -> Job:
    deadline = time.monotonic() + timeout
    while (job := node.queue.get(job_id)).state not in states:
        assert time.monotonic() < deadline, f"job {job_id} still {job.state}"
        for process in processes:
            assert isinstance(process, subprocess.Popen) and process.poll() is None, (
                "a prover exited early"
            )
        time.sleep(0.05)
    return job


def _enqueue_proof(
    node: ProverNode, card: ModelCard, sample: np.ndarray, memory_bytes: int | None = None
) -> Job:
    witness = witness_input_json([NamedTensor.of("input", sample)])
    job, _ = node.queue.enqueue(
        JobKind.PROVE,
        PROVER_MODEL,
        {
            "commitment": card.commitment,
            "input_digest": "0" * 64,
            "witness_input_digest": node.store.put_bytes(witness),
        },
        memory_bytes=memory_bytes,
    )
    return job


def _children_niceness(pid: int) -> list[int]:
    """The niceness of every process whose parent is pid, read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # the field after the state is the parent's pid
            found.append(os.getpriority(os.PRIO_PROCESS, int(stat.parent.name)))
    return found


@dataclass(frozen=True)
class RegistrationBesideAProof:
    proof: Job
    proof_seconds: float
    registration_state_at_proof: JobState
    registration: Job
    registration_seconds: float
    children_niceness: list[int]
    exit_code: int


@pytest.fixture(scope="module")
def beside(
    prover_node: ProverNode, prover_digits: ModelCard, digits_samples: np.ndarray
) -> Iterator[RegistrationBesideAProof]:
    process = _start_prover(
        prover_node,
        "lanes-0",
        *("--memory-budget", str(TINY_BUDGET), "--nice", str(WORKER_NICE)),
        *("--registration-nice", str(REGISTRATION_NICE)),
    )
    try:
        started = time.monotonic()
        registration = prover_node.start_registration(
            "digits-too-big",
            onnx=(DIGITS_DIR / "model.onnx").read_bytes(),
            calibration=(DIGITS_DIR / "calibration.npy").read_bytes(),
        )
        _wait_for(prover_node, registration.id, {JobState.RUNNING}, 60, process)
        # Unknown need (a card from before registrations measured): any prover may take it.
        sent = time.monotonic()
        proof = _enqueue_proof(prover_node, prover_digits, digits_samples[3])
        proof = _wait_for(prover_node, proof.id, {JobState.SUCCEEDED}, 120, process)
        proof_seconds = time.monotonic() - sent
        at_proof = prover_node.queue.get(registration.id).state
        niceness = _children_niceness(process.pid)
        registration = _wait_for(prover_node, registration.id, {JobState.FAILED}, 600, process)
        yield RegistrationBesideAProof(
            proof=proof,
            proof_seconds=proof_seconds,
            registration_state_at_proof=at_proof,
            registration=registration,
            registration_seconds=time.monotonic() - started,
            children_niceness=niceness,
            exit_code=_stop(process),
        )
    finally:
        _stop(process)


def test_a_proof_finishes_while_a_registration_runs_on_the_same_prover(
    beside: RegistrationBesideAProof,
) -> None:
    assert beside.registration_state_at_proof == JobState.RUNNING
    assert beside.proof_seconds < beside.registration_seconds
    assert (beside.proof.lease_owner, beside.registration.lease_owner) == (
        "lanes-0/prove",
        "lanes-0/register",
    )
    assert beside.exit_code == 0
    print(
        f"proof {beside.proof_seconds:.1f} s beside a registration of "
        f"{beside.registration_seconds:.1f} s"
    )


def test_the_registration_lane_proves_at_a_lower_priority(
    beside: RegistrationBesideAProof,
) -> None:
    own = os.getpriority(os.PRIO_PROCESS, 0)
    worker = own + WORKER_NICE
    # The two lanes' children (and multiprocessing's resource tracker, at the worker's).
    assert worker in beside.children_niceness
    assert min(worker + REGISTRATION_NICE, 19) in beside.children_niceness


def test_a_registration_whose_proof_no_prover_can_hold_is_refused_with_the_figure(
    prover_node: ProverNode, beside: RegistrationBesideAProof
) -> None:
    error = beside.registration.error or ""
    found = re.search(r"a proof of model 'digits-too-big' needs .*? \(([\d,]+) bytes\)", error)
    assert found is not None, error
    assert int(found.group(1).replace(",", "")) > TINY_BUDGET
    assert f"the largest memory budget advertised is {describe_size(TINY_BUDGET)}" in error
    assert beside.registration.attempts == 1, "refused for good, not retried"
    record = prover_node.catalog.get("digits-too-big")
    assert (record.state, record.error) == (ModelState.FAILED, error)


def test_a_small_prover_leaves_big_jobs_to_a_large_one(
    prover_node: ProverNode, prover_digits: ModelCard, digits_samples: np.ndarray
) -> None:
    need = prover_digits.prove_peak_rss_bytes
    assert need is not None, "registration measures its proof's peak memory"
    small = _start_prover(
        prover_node, "small-0", "--lanes", "prove", "--memory-budget", str(need // 2)
    )
    large = _start_prover(
        prover_node, "large-0", "--lanes", "prove", "--memory-budget", str(2 * need)
    )
    try:
        _until(lambda: _advertised(prover_node) >= {"small-0", "large-0"}, "both adverts")
        jobs = [_enqueue_proof(prover_node, prover_digits, s, need) for s in digits_samples[:3]]
        done = [_wait_for(prover_node, j.id, {JobState.SUCCEEDED}, 120, small, large) for j in jobs]
        assert [job.lease_owner for job in done] == ["large-0/prove"] * 3
    finally:
        assert (_stop(small), _stop(large)) == (0, 0)
    assert _advertised(prover_node).isdisjoint({"small-0", "large-0"}), "withdrawn at exit"


def _advertised(node: ProverNode) -> set[str]:
    rows = node.database.read(lambda s: s.all("SELECT id FROM provers"))
    return {row["id"] for row in rows}


def _until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.05)


def test_lanes_are_written_as_the_flag_takes_them() -> None:
    assert [lane.name for lane in parse_lanes("register,prove")] == ["register", "prove"]
    (both,) = parse_lanes("prove+register")
    assert (both.name, both.background) == ("register+prove", False)
    for bad in ("prove,prove", "register+register", "prove,", "verify"):
        with pytest.raises(ValueError, match="lanes"):
            parse_lanes(bad)
    parser = argparse.ArgumentParser()
    add_worker_arguments(parser, {"ZKGATE_PROVER_LANES": "register+prove"})
    config = config_from_args(parser.parse_args(["--data-dir", "/srv"]))
    assert [lane.name for lane in config.lanes] == ["register+prove"]
    with pytest.raises(ConfigError, match="not a job kind"):
        config_from_args(parser.parse_args(["--data-dir", "/srv", "--lanes", "verify"]))
