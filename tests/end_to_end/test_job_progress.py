"""Job progress, listings and cancellation on a real gateway with real provers: a
registration's stages arrive in order through WatchJob and `zkgate jobs watch`; a queued proof
reports its place and estimate; `jobs list|show|cancel` and ListJobs filter, page and refuse
bad input; cancelling a queued job is immediate, and cancelling a running one stops its
prover's child. Provers are frozen with paused_provers(), not raced."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import grpc
import numpy as np
import pytest

from tests.fixtures.gateway_fixtures import DIGITS, RegisteredModel, RunningGateway
from zkgate.client import Client
from zkgate.core.card import ModelCard
from zkgate.wire import zkgate_pb2 as pb

# The stages of a registration with tuning `none`, in the order they run.
UNTUNED_STAGES = [
    "calibrating",
    "compiling",
    "measuring_fidelity",
    "keying",
    "test_proof",
    "storing",
]


def zkgate(
    gateway: RunningGateway, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zkgate.client", *args, "--target", gateway.target],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _code(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details() or ""


def _prove(client: Client, sample: np.ndarray) -> str:
    """A served digits prediction's proof job."""
    job_id = client.infer("digits", {"input": sample}, prove=True).job_id
    assert job_id is not None
    return job_id


def _in_order(seen: list[str], order: list[str]) -> bool:
    """seen (repeats collapsed) is a subsequence of order: nothing out of place. Polling may
    miss a stage of a few milliseconds, never reorder them."""
    collapsed = [stage for i, stage in enumerate(seen) if i == 0 or seen[i - 1] != stage]
    positions = [order.index(stage) for stage in collapsed]
    return positions == sorted(set(positions))


def _stages_in_lines(text: str, job_id: str) -> list[str]:
    """The stages named by the CLI's plain progress lines about job_id, in order."""
    found = []
    for line in text.splitlines():
        head = f"job {job_id} register digits-stages: "
        if line.startswith(head):
            what = line.removeprefix(head)
            found += [s for s in UNTUNED_STAGES if what.startswith(s.replace("_", " ") + " ")]
    return found


def _registration_job(client: Client, name: str) -> str:
    deadline = time.monotonic() + 60
    while not (jobs := client.list_jobs(kind=pb.JOB_KIND_REGISTER, model_name=name).jobs):
        assert time.monotonic() < deadline, "the registration was never queued"
        time.sleep(0.05)
    return jobs[0].job_id


def test_a_registrations_stages_arrive_in_order(gateway: RunningGateway) -> None:
    """`models add` (piped: plain lines on stderr), `jobs watch` and WatchJob all see the
    stages of one registration in the order they run."""
    add = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zkgate.client",
            "models",
            "add",
            "digits-stages",
            str(DIGITS / "model.onnx"),
            "--calibration",
            str(DIGITS / "calibration.npy"),
            "--tuning",
            "none",
            "--target",
            gateway.target,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with gateway.client() as client:
        job_id = _registration_job(client, "digits-stages")
        cli: dict[str, subprocess.CompletedProcess[str]] = {}
        watcher = threading.Thread(
            target=lambda: cli.setdefault("watch", zkgate(gateway, "jobs", "watch", job_id))
        )
        watcher.start()
        updates = list(client.watch_job(job_id, timeout=600))
        watcher.join(600)
        added_out, added_err = add.communicate(timeout=600)

    assert updates[-1].state == pb.JOB_STATE_SUCCEEDED
    stages = [u.stage for u in updates if u.state == pb.JOB_STATE_RUNNING and u.stage]
    assert _in_order(stages, UNTUNED_STAGES), stages
    assert {"measuring_fidelity", "keying"} <= set(stages), stages
    # A running job carries its start, and its stage's start no earlier; an ended one keeps
    # the last stage it reached.
    assert all(u.started_at and u.stage_started_at >= u.started_at for u in updates if u.stage)
    assert updates[-1].stage == "storing"

    assert add.returncode == 0, added_err
    assert "commitment" in added_out
    for output in (added_err, cli["watch"].stderr):
        seen = _stages_in_lines(output, job_id)
        assert _in_order(seen, UNTUNED_STAGES) and len(set(seen)) >= 3, output
    watch = cli["watch"]
    assert watch.returncode == 0, watch.stderr
    assert watch.stderr.strip().splitlines()[-1].endswith("succeeded"), watch.stderr


def test_queued_proofs_report_their_place_and_cancel_at_once(
    gateway: RunningGateway, digits: RegisteredModel, digits_inputs: np.ndarray
) -> None:
    with gateway.client() as client:
        card = ModelCard.from_json(client.model("digits").card_json)
        with gateway.paused_provers():
            first = _prove(client, digits_inputs[40])
            second = _prove(client, digits_inputs[41])
            a, b = client.job(first), client.job(second)
            assert (a.state, b.state) == (pb.JOB_STATE_QUEUED, pb.JOB_STATE_QUEUED)
            assert a.queue_position >= 1 and b.queue_position == a.queue_position + 1
            # The estimate of a queued proof is its own measured work.
            assert a.estimated_seconds_remaining == pytest.approx(card.prove_seconds)

            cancelled = client.cancel_job(second)
            assert cancelled.state == pb.JOB_STATE_CANCELLED
            assert not cancelled.HasField("estimated_seconds_remaining")
            assert client.job(first).queue_position == a.queue_position

            queued = client.list_jobs(states=[pb.JOB_STATE_QUEUED], model_name="digits")
            assert first in [j.job_id for j in queued.jobs]
            assert second not in [j.job_id for j in queued.jobs]
            shown = json.loads(zkgate(gateway, "jobs", "show", first, "--json").stdout)
            assert shown["job"]["state"] == "queued"
            assert shown["job"]["queue_position"] == a.queue_position
        done = client.wait_for_job(first, timeout=300)
        assert done.state == pb.JOB_STATE_SUCCEEDED and done.stage == "storing"
        # Cancelling a job that ended leaves it as it is.
        assert client.cancel_job(first).state == pb.JOB_STATE_SUCCEEDED


def test_listing_filters_and_pages(
    gateway: RunningGateway, digits: RegisteredModel, digits_inputs: np.ndarray
) -> None:
    with gateway.client() as client:
        proofs = [_prove(client, digits_inputs[50 + n]) for n in range(3)]
        for job_id in proofs:
            client.wait_for_job(job_id, timeout=300)
        pages: list[str] = []
        token = ""
        while True:
            page = client.list_jobs(kind=pb.JOB_KIND_PROVE, page_size=2, page_token=token)
            assert len(page.jobs) <= 2
            pages += [j.job_id for j in page.jobs]
            token = page.next_page_token
            if not token:
                break
        assert pages[:3] == proofs[::-1]
        assert len(pages) == len(set(pages))
        everything = client.list_jobs(page_size=500)
        assert {j.kind for j in everything.jobs} == {pb.JOB_KIND_REGISTER, pb.JOB_KIND_PROVE}
        registrations = client.list_jobs(kind=pb.JOB_KIND_REGISTER, model_name="digits")
        assert [j.model_name for j in registrations.jobs] == ["digits"]
        assert all(not j.proof for j in everything.jobs)

    listed = zkgate(gateway, "jobs", "list", "--kind", "prove", "--limit", "2", "--json")
    document = json.loads(listed.stdout)
    assert [j["job_id"] for j in document["jobs"]] == proofs[::-1][:2]
    assert document["next_page_token"]


def test_bad_job_requests_get_the_right_status(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        for call in (lambda: client.job("no-such-job"), lambda: client.cancel_job("no-such-job")):
            code, details = _code(call)
            assert code == grpc.StatusCode.NOT_FOUND and "no-such-job" in details
        code, details = _code(lambda: client.list_jobs(page_token="not-a-token"))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "next_page_token" in details
        code, details = _code(lambda: client.list_jobs(page_size=501))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "500" in details
        code, details = _code(lambda: client.list_jobs(states=[pb.JobState.ValueType(99)]))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "JOB_STATE_QUEUED" in details
        code, details = _code(lambda: client.list_jobs(kind=pb.JobKind.ValueType(7)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "JOB_KIND_PROVE" in details
    cancel = zkgate(gateway, "jobs", "cancel", "no-such-job")
    assert cancel.returncode == 1 and "NOT_FOUND" in cancel.stderr
    bad_state = zkgate(gateway, "jobs", "list", "--state", "sleeping")
    assert bad_state.returncode == 2 and "invalid choice" in bad_state.stderr


def test_cancelling_a_running_registration_stops_its_prover(
    gateway: RunningGateway, digits: RegisteredModel, digits_inputs: np.ndarray
) -> None:
    with gateway.client() as client:
        job_id = client.register_model(
            "digits-cancelled", DIGITS / "model.onnx", DIGITS / "calibration.npy"
        ).job_id
        job = client.job(job_id)
        deadline = time.monotonic() + 120
        while not (job.state == pb.JOB_STATE_RUNNING and job.stage):
            assert time.monotonic() < deadline and not job.state > pb.JOB_STATE_RUNNING, job
            time.sleep(0.05)
            job = client.job(job_id)
        before = set(gateway._descendants())

        cancelled = zkgate(gateway, "jobs", "cancel", job_id, "--json")
        assert cancelled.returncode == 0, cancelled.stderr
        assert json.loads(cancelled.stdout)["job"]["state"] == "cancelled"
        deadline = time.monotonic() + 15
        while before <= set(gateway._descendants()):
            assert time.monotonic() < deadline, "no prover process stopped"
            time.sleep(0.1)
        assert client.job(job_id).state == pb.JOB_STATE_CANCELLED
        version = client.model("digits-cancelled")
        assert version.state == pb.MODEL_STATE_FAILED and "cancelled" in version.error
        # The prover goes on: a proof after the cancellation is made as ever.
        later = _prove(client, digits_inputs[60])
        assert client.wait_for_job(later, timeout=300).state == pb.JOB_STATE_SUCCEEDED
