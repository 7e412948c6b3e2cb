"""The checks a registration request passes before any circuit is built.

The gateway runs them when the call arrives, so that a request it would only see fail in a job
is refused at once; the prover runs them again in the job. Nothing here imports ezkl or
onnxruntime, so a gateway can import it without loading the prover's native libraries.

Failures a user can fix raise RegistrationError with what to do; they are deterministic, so a
job queue must not retry them.
"""

from __future__ import annotations

from typing import Any

import numpy.typing as npt

from zkgate.core.array_rows import load_npy

DEFAULT_MAX_LOGROWS = 17
DEFAULT_PARAM_VISIBILITY = "fixed"
# Batch circuits grow linearly with the batch size; beyond this a proof costs minutes.
MAX_BATCH_SIZE = 64

_UNSUPPORTED_VISIBILITY = {
    "private": (
        "private parameters do not bind the model: a proof made with other weights verifies "
        "under the same verifying key, so a proof would say nothing about the served model; "
        "use 'fixed'"
    ),
    "hashed": "hashed parameters are not yet supported by zkgate-client; use 'fixed'",
    "polycommit": "polycommit parameters are not yet supported by zkgate-client; use 'fixed'",
}


class RegistrationError(Exception):
    """The model cannot be registered as submitted; the message says what to change."""


def check_param_visibility(visibility: str) -> str:
    if visibility == DEFAULT_PARAM_VISIBILITY:
        return visibility
    reason = _UNSUPPORTED_VISIBILITY.get(visibility)
    if reason is None:
        reason = f"unknown visibility; use {DEFAULT_PARAM_VISIBILITY!r}"
    raise RegistrationError(f"param_visibility {visibility!r} refused: {reason}")


def check_batch_size(batch_size: int) -> int:
    if not 0 <= batch_size <= MAX_BATCH_SIZE:
        raise RegistrationError(
            f"batch_size {batch_size} refused: use 0 or 1 for no batching, or up to "
            f"{MAX_BATCH_SIZE} (a batch circuit grows with every entry)"
        )
    return batch_size


def load_calibration(data: bytes) -> npt.NDArray[Any]:
    """Calibration data as uploaded: a .npy array of samples stacked on axis 0, read as any
    array from a remote caller is (see load_npy: never a pickle, an archive or a lying header)."""
    array = load_npy(data, "calibration data", RegistrationError)
    if array.ndim < 2 or len(array) == 0:
        raise RegistrationError(
            "calibration data must hold one or more samples stacked on axis 0, got shape "
            f"{list(array.shape)}"
        )
    return array
