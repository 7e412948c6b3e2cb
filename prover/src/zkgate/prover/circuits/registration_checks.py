"""The checks a registration request passes before any circuit is built.

The gateway runs them when the call arrives, so that a request it would only see fail in a job
is refused at once; the prover runs them again in the job. Nothing here imports ezkl or
onnxruntime, so a gateway can import it without loading the prover's native libraries.

Failures a user can fix raise RegistrationError with what to do; they are deterministic, so a
job queue must not retry them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy.typing as npt

from zkgate.core.npz_arrays import load_npy_or_npz

DEFAULT_MAX_LOGROWS = 17
DEFAULT_PARAM_VISIBILITY = "fixed"
# Calibration data as uploaded: one array (.npy) for a model with one input, or arrays by input
# name (.npz) for any model.
Calibration = npt.NDArray[Any] | Mapping[str, npt.NDArray[Any]]
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


def load_calibration(data: bytes) -> Calibration:
    """Calibration data as uploaded: a .npy array of samples stacked on axis 0, or a .npz of
    such arrays named after the model's inputs; read as any array from a remote caller is
    (see load_npy and load_npz: never a pickle, a zip bomb or a lying header)."""
    loaded = load_npy_or_npz(data, "calibration data", RegistrationError)
    if not isinstance(loaded, dict):
        if loaded.ndim < 2 or len(loaded) == 0:
            raise RegistrationError(
                "calibration data must hold one or more samples stacked on axis 0, got shape "
                f"{list(loaded.shape)}"
            )
        return loaded
    for name, array in loaded.items():
        if array.ndim < 1 or len(array) == 0:
            raise RegistrationError(
                f"calibration array {name!r} must hold one or more samples stacked on axis 0, "
                f"got shape {list(array.shape)}"
            )
    return loaded


def calibration_arrays(calibration: Calibration, names: Sequence[str]) -> list[npt.NDArray[Any]]:
    """One array per model input, in the model's input order: a .npz must name exactly the
    model's inputs, and a lone .npy array serves only a model with one input."""
    if not isinstance(calibration, Mapping):
        if len(names) != 1:
            raise RegistrationError(
                f"the model has {len(names)} inputs {list(names)}; send calibration data as "
                ".npz with one array per input name (numpy.savez(path, **{name: samples}))"
            )
        return [calibration]
    missing = [name for name in names if name not in calibration]
    extra = [name for name in calibration if name not in names]
    if missing or extra:
        problems = ([f"no array for input(s) {missing}"] if missing else []) + (
            [f"array(s) {[name[:80] for name in extra[:8]]} name no input"] if extra else []
        )
        raise RegistrationError(
            f"calibration data: {'; '.join(problems)}; the .npz must hold one array per model "
            f"input, named {list(names)}"
        )
    return [calibration[name] for name in names]


def stacked_samples(
    array: npt.NDArray[Any], name: str, shape: Sequence[int], *, batch_axis: bool
) -> npt.NDArray[Any]:
    """The calibration array of one input as samples of shape (N, *shape). With a batch axis
    (shape holds one row), rows stacked on the model's own axis 0, (N, *shape[1:]), are N
    samples too."""
    shape = list(shape)
    if batch_axis and list(array.shape[1:]) == shape[1:]:
        array = array.reshape(len(array), *shape)
    expected = ("N", *shape)
    if array.ndim != len(expected) or list(array.shape[1:]) != shape:
        raise RegistrationError(
            f"calibration data for input {name!r} has shape {list(array.shape)}; expected "
            f"{list(expected)}: N samples of shape {shape}"
            + (f" (or N rows of shape {shape[1:]})" if batch_axis else "")
        )
    if len(array) == 0:
        raise RegistrationError(
            f"calibration data for input {name!r} holds no samples; send at least one"
        )
    return array


def check_sample_counts(arrays: Sequence[npt.NDArray[Any]], names: Sequence[str]) -> int:
    """Sample i of every input together make one input of the model: the counts must agree."""
    counts = {name: len(array) for name, array in zip(names, arrays, strict=True)}
    if len(set(counts.values())) != 1:
        raise RegistrationError(
            f"calibration arrays hold different numbers of samples {counts}; sample i of each "
            "input together make one model input"
        )
    return len(arrays[0])
