"""Calibration data that cannot register a model with several inputs is refused when the call
arrives (INVALID_ARGUMENT, no model listed, no job queued), and by `zkgate models add` before
any upload when the file cannot be read (exit 2); the gateway keeps serving."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from numpy.lib import format as npy_format

from tests.fixtures.byo_inputs_fixtures import (
    WIDTH_A,
    WIDTH_B,
    ByoFiles,
    npz_bytes,
    register_with_cli,
    samples,
)
from tests.fixtures.gateway_fixtures import RegisteredModel, RunningGateway
from zkgate.client.cli.exit_codes import EXIT_BAD_INPUT
from zkgate.core.npz_arrays import MAX_ARCHIVE_BYTES
from zkgate.wire import zkgate_pb2 as pb
from zkgate.wire import zkgate_pb2_grpc

REFUSED = "byo-refused"


def _pickled_member() -> bytes:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        a=samples(4, WIDTH_A, 0),
        b=np.array([{"run": "code"}] * 4, dtype=object),
    )
    return buffer.getvalue()


def _inflating_member() -> bytes:
    """A deflated .npy member of zeros that inflates past the archive limit: a few hundred KB
    on the wire, streamed into the zip so the test never holds the inflated bytes either."""
    count = MAX_ARCHIVE_BYTES // 4 + 1024
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("a.npy", "w", force_zip64=True) as member:
            header = io.BytesIO()
            npy_format.write_array_header_1_0(
                header, {"descr": "<f4", "fortran_order": False, "shape": (count,)}
            )
            member.write(header.getvalue())
            chunk = bytes(4 * 2**20)
            for _ in range(count * 4 // len(chunk) + 1):
                member.write(chunk)
        archive.writestr("b.npy", npz_bytes())  # never read: the limit is met first
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


# Each case: the calibration bytes (made when the case runs) and what the refusal must say.
BAD_CALIBRATION = {
    "missing input": (
        lambda: npz_bytes(a=samples(4, WIDTH_A, 0)),
        "no array for input(s) ['b']",
    ),
    "extra arrays": (
        lambda: npz_bytes(a=samples(4, WIDTH_A, 0), b=samples(4, WIDTH_B, 1), c=samples(4, 3, 2)),
        "array(s) ['c'] name no input",
    ),
    "wrong shape": (
        lambda: npz_bytes(a=samples(4, WIDTH_A, 0), b=samples(4, WIDTH_A, 1)),
        "calibration data for input 'b' has shape [4, 1, 4]",
    ),
    "unequal sample counts": (
        lambda: npz_bytes(a=samples(4, WIDTH_A, 0), b=samples(5, WIDTH_B, 1)),
        "different numbers of samples",
    ),
    "one .npy for two inputs": (
        lambda: _npy(samples(4, WIDTH_A, 0)),
        "send calibration data as .npz",
    ),
    "garbage": (lambda: b"PK\x03\x04 not really a zip", "is not a .npz archive"),
    "pickled object array": (_pickled_member, "dtype object is not numeric"),
    "member inflating past the limit": (_inflating_member, "inflates to more than"),
}


@pytest.fixture(scope="module")
def channel(gateway: RunningGateway) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(gateway.target) as opened:
        yield opened


@pytest.fixture
def still_serves(gateway: RunningGateway, two_inputs_model: RegisteredModel) -> Iterator[None]:
    """After each refusal, the registered two-input model answers as before."""
    inputs = {"a": samples(1, WIDTH_A, 7)[0], "b": samples(1, WIDTH_B, 8)[0]}
    with gateway.client() as client:
        before = [t.array for t in client.infer(two_inputs_model.name, inputs).outputs]
    yield
    with gateway.client() as client:
        after = [t.array for t in client.infer(two_inputs_model.name, inputs).outputs]
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.usefixtures("still_serves")
@pytest.mark.parametrize("case", list(BAD_CALIBRATION))
def test_bad_calibration_is_refused_before_a_job_is_queued(
    channel: grpc.Channel, byo_files: ByoFiles, case: str
) -> None:
    make, problem = BAD_CALIBRATION[case]
    stub = zkgate_pb2_grpc.ModelServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.RegisterModel(
            pb.RegisterModelRequest(
                name=REFUSED, onnx=byo_files.two_inputs.read_bytes(), calibration=make()
            ),
            timeout=60,
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert problem in (info.value.details() or "")
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetModel(pb.GetModelRequest(name=REFUSED), timeout=30)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("case", ["garbage", "pickled object array", "missing file"])
def test_models_add_refuses_an_unreadable_calibration_file_before_uploading(
    gateway: RunningGateway,
    byo_files: ByoFiles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    data = tmp_path / "calibration.npz"
    if case != "missing file":
        data.write_bytes(BAD_CALIBRATION[case][0]())
    status = register_with_cli(gateway, REFUSED, byo_files.two_inputs, data)
    assert status == EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert "--calibration" in error and str(data) in error
    with gateway.client() as client, pytest.raises(grpc.RpcError) as missing:
        client.model(REFUSED)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
