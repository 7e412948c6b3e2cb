"""What a registration asks provers to build, checked when the call arrives.

A prover runs the same checks again in the registration job; running them here as well means a
caller hears what to change at once, instead of from a failed job, and no job is queued for a
request that can only fail.
"""

from __future__ import annotations

from pathlib import Path

from zkgate.core.fidelity_target import (
    FidelityTargetError,
    parse_fidelity_target,
    parse_tuning_effort,
)
from zkgate.gateway.errors import InvalidRequest
from zkgate.prover.circuits.declared_inputs import check_calibration_fits
from zkgate.prover.circuits.registration_checks import (
    DEFAULT_PARAM_VISIBILITY,
    RegistrationError,
    check_batch_size,
    check_param_visibility,
    load_calibration,
)
from zkgate.prover.circuits.srs_files import SrsError, requested_ceremony
from zkgate.prover.queue.catalog import validate_model_name


def checked_circuit_request(
    name: str,
    *,
    onnx: bytes,
    calibration: bytes,
    max_logrows: int | None,
    logrows_limit: int,
    param_visibility: str,
    srs_path: str,
    srs_sha256: str,
    srs_directory: Path,
    batch_size: int,
    scale: int | None,
    fidelity: str = "",
    tuning: str = "",
) -> dict[str, object]:
    """The registration job's circuit settings, or InvalidRequest saying what to change.
    `logrows_limit` is this gateway's largest circuit, `srs_directory` the only place a
    registration may name a ceremony file in."""
    if bool(srs_path) != bool(srs_sha256):
        raise InvalidRequest("srs_path and srs_sha256 go together: pin the ceremony file")
    try:
        validate_model_name(name)
        visibility = check_param_visibility(param_visibility or DEFAULT_PARAM_VISIBILITY)
        check_batch_size(batch_size)
        check_calibration_fits(load_calibration(calibration), onnx)
        target = parse_fidelity_target(fidelity)
        effort = parse_tuning_effort(tuning)
        if srs_path:
            srs_path = requested_ceremony(srs_path, srs_sha256, srs_directory)
    except (ValueError, RegistrationError, SrsError, FidelityTargetError) as exc:
        raise InvalidRequest(str(exc)) from exc
    if not onnx:
        raise InvalidRequest("onnx is empty; send the model file's bytes")
    logrows = max_logrows or logrows_limit
    if logrows > logrows_limit:
        raise InvalidRequest(f"max_logrows {logrows} exceeds this gateway's limit {logrows_limit}")
    return {
        "max_logrows": logrows,
        "param_visibility": visibility,
        "srs_path": srs_path,
        "srs_sha256": srs_sha256,
        "batch_size": max(batch_size, 1),
        "fidelity": str(target),
        "tuning": effort.value,
        **({} if scale is None else {"scale": scale}),
    }
