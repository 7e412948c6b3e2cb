"""Rate limits as a script meets them, on a real gateway with API-key tenants: one `zkgate infer`
spends one token of the tenant's rate (its catalogue reads draw from a budget of their own), and
a client with retries on waits out "retry in N ms" through gRPC's own retry policy."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest

from tests.fixtures.gateway_fixtures import DIGITS, RunningGateway, register, start_gateway
from zkgate.client import Client
from zkgate.client.cli.main import main
from zkgate.gateway.access_control import READ_BUDGET_FACTOR, api_key_digest

ADMIN_KEY = "admin-key-" + "0" * 32
# One request, then one more every 100 s: a second request in a test's time is refused.
SINGLE_KEY = "single-key-" + "1" * 32
# Two requests a second, one at a time.
PACED_KEY = "paced-key-" + "2" * 32
PACED_RATE = 2.0


@dataclass(frozen=True)
class LimitedGateway:
    gateway: RunningGateway
    key_files: dict[str, Path]

    def client(self, key: str, *, retries: bool) -> Client:
        return Client(self.gateway.target, timeout=30, api_key=key, retries=retries)


@pytest.fixture(scope="module")
def limited_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LimitedGateway]:
    base = tmp_path_factory.mktemp("rate-limited")
    tenants = [
        {"name": "ops", "admin": True, "key_sha256": [api_key_digest(ADMIN_KEY)]},
        {
            "name": "single",
            "key_sha256": [api_key_digest(SINGLE_KEY)],
            "requests_per_second": 0.01,
            "burst": 1,
        },
        {
            "name": "paced",
            "key_sha256": [api_key_digest(PACED_KEY)],
            "requests_per_second": PACED_RATE,
            "burst": 1,
        },
    ]
    (base / "tenants.json").write_text(json.dumps({"tenants": tenants}))
    key_files = {}
    for name, key in (("single", SINGLE_KEY), ("paced", PACED_KEY)):
        key_files[name] = base / f"{name}.key"
        key_files[name].write_text(key)
    gateway = start_gateway(base / "data", env={"ZKGATE_API_KEYS_FILE": str(base / "tenants.json")})
    try:
        with Client(gateway.target, timeout=60, api_key=ADMIN_KEY) as admin:
            register(admin, "digits", DIGITS / "model.onnx")
        yield LimitedGateway(gateway=gateway, key_files=key_files)
    finally:
        gateway.stop()


def _input(tmp_path: Path) -> Path:
    path = tmp_path / "x.npy"
    np.save(path, np.load(DIGITS / "test_inputs.npy")[0])
    return path


def _code(call: object) -> grpc.StatusCode:
    try:
        call()  # type: ignore[operator]
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def test_one_infer_spends_one_token(
    limited_gateway: LimitedGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tenant has one token. `zkgate infer` reads the card (GetModel) and then infers: if
    the read cost a token, the inference would be refused (or wait 100 s for the next)."""
    x = _input(tmp_path)
    started = time.monotonic()
    code = main(
        [
            "infer",
            "digits",
            "--input",
            str(x),
            "--target",
            limited_gateway.gateway.target,
            "--api-key-file",
            str(limited_gateway.key_files["single"]),
            "--json",
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert (code, document["ok"]) == (0, True), document
    assert time.monotonic() - started < 20
    # The one token is spent: the next inference is refused, while reads still pass.
    with limited_gateway.client(SINGLE_KEY, retries=False) as client:
        assert client.model("digits").name == "digits"
        refused = _code(lambda: client.infer("digits", {"input": np.load(x)}))
    assert refused == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_reads_have_a_budget_of_their_own(limited_gateway: LimitedGateway) -> None:
    with limited_gateway.client(PACED_KEY, retries=False) as client:
        for _ in range(READ_BUDGET_FACTOR):
            client.models()
        assert _code(client.models) == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_retries_wait_for_the_gateways_retry_hint(limited_gateway: LimitedGateway) -> None:
    """Over its rate, a client without retries is refused at once with the hint in the message
    and the grpc-retry-pushback-ms trailer; with retries, gRPC waits as long as the hint says
    and the call succeeds."""
    x = {"input": np.load(DIGITS / "test_inputs.npy")[0]}
    time.sleep(1 / PACED_RATE)
    with limited_gateway.client(PACED_KEY, retries=False) as client:
        client.infer("digits", x)
        with pytest.raises(grpc.RpcError) as refused:
            client.infer("digits", x)
    error = refused.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "retry in" in error.details()
    trailers = dict(error.trailing_metadata() or ())  # type: ignore[attr-defined]
    assert 0 < int(trailers["grpc-retry-pushback-ms"]) <= 1000 / PACED_RATE
    time.sleep(1 / PACED_RATE)
    with limited_gateway.client(PACED_KEY, retries=True) as client:
        started = time.monotonic()
        for _ in range(3):
            assert client.infer("digits", x).outputs
        elapsed = time.monotonic() - started
    # Three requests at two a second, one at a time: the last two waited about 0.5 s each.
    assert elapsed >= 2 / PACED_RATE * 0.8


def test_the_rest_half_says_when_to_retry(
    limited_gateway: LimitedGateway, digits_inputs: np.ndarray
) -> None:
    """A tenant over its rate gets 429 and a Retry-After header from the REST half, whose reads
    draw on the read budget as the gRPC half's do."""
    body = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP32",
                    "shape": [1, 64],
                    "data": digits_inputs[3].astype(float).ravel().tolist(),
                }
            ]
        }
    ).encode()
    connection = http.client.HTTPConnection(
        "127.0.0.1", limited_gateway.gateway.rest_port, timeout=30
    )
    headers = {"Authorization": f"Bearer {SINGLE_KEY}"}
    for _ in range(2):  # the tenant's one token may be left, or spent by an earlier test
        connection.request("POST", "/v2/models/digits/infer", body=body, headers=headers)
        response = connection.getresponse()
        payload = json.loads(response.read())
    assert response.status == 429, payload
    assert "retry in" in payload["error"]
    assert int(response.getheader("Retry-After", "0")) >= 1
    # Metadata is a read, as over gRPC: it draws on the read budget, not the spent rate.
    connection.request("GET", "/v2/models/digits", headers=headers)
    response = connection.getresponse()
    assert response.status == 200, response.read()
    response.read()
    connection.close()
