"""A crash of the gateway and its prover mid-job loses nothing: jobs finish after a restart."""

from __future__ import annotations

import time

from tests.fixtures.gateway_fixtures import RegisteredModel, RunningGateway, fresh_inputs
from zkgate.wire import zkgate_pb2 as pb


def test_kill_gateway_and_prover_mid_job_then_restart(
    gateway: RunningGateway, digits: RegisteredModel
) -> None:
    # Inputs of its own: a proof another test already made would never be seen running.
    first, second = fresh_inputs(2, seed=901)
    with gateway.client() as client:
        key_before = client.gateway_key()
        running = client.infer(digits.name, {"input": first}, prove=True)
        queued = client.infer(digits.name, {"input": second}, prove=True)
        assert running.job_id and queued.job_id
        deadline = time.monotonic() + 300
        while client.job(running.job_id).state != pb.JOB_STATE_RUNNING:
            assert time.monotonic() < deadline, "the prover never claimed the job"
            time.sleep(0.05)

    gateway.kill()  # SIGKILL to the gateway and its prover, mid-proof
    gateway.start()

    with gateway.client() as client:
        assert client.gateway_key() == key_before, "the signing key must survive restarts"
        for prediction in (running, queued):
            assert prediction.job_id is not None
            proof = client.wait_for_proof(prediction.job_id, timeout=600)
            verified = client.verify(
                prediction, proof, pinned_commitment=digits.commitment, allow_insecure_srs=True
            )
            assert verified.commitment == digits.commitment
        crashed = client.job(running.job_id)
    assert crashed.state == pb.JOB_STATE_SUCCEEDED
    assert crashed.attempts == 2, "claimed once before the crash and once after"
