"""Turning an ONNX model and calibration data into a registered, provable model and its card.

Registration is the one time the provider's claims about a model are measured rather than
asserted: the circuit is calibrated, compiled and keyed, checked on a sample before keys are
made (mock), compared against onnxruntime (fidelity), and made to produce one real proof that
verifies against the same k=1 verifier slice a client gets. Only then are artifacts stored and
the commitment computed.

Failures a user can fix (a bad file, an unsupported model, data of the wrong shape, too small a
logrows cap, an unsafe visibility) raise RegistrationError with what to do; they are
deterministic, so a job queue must not retry them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ezkl
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from zkgate.core.array_rows import load_npy
from zkgate.core.card import (
    BatchCircuit,
    Fidelity,
    KeySizes,
    ModelCard,
    SrsInfo,
    TensorSpec,
    Visibility,
    serving_terms,
)
from zkgate.core.commitment import model_commitment
from zkgate.core.srs import srs_identity, verifier_slice
from zkgate.core.tensors import NamedTensor, numpy_dtype
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.circuits.batching import (
    BatchError,
    batch_witness_input,
    entry_outputs,
    read_witness,
    replicate_model,
)
from zkgate.prover.circuits.proving import (
    EZKL_VERSION,
    ProvingError,
    run_ezkl,
    verify_proof,
    witness_input_json,
)
from zkgate.prover.circuits.srs_source import CeremonySrs, SrsError, SrsSource

logger = logging.getLogger("zkgate.prover.circuits.registration")

DEFAULT_MAX_LOGROWS = 17
DEFAULT_PARAM_VISIBILITY = "fixed"
# Calibration tries many scales over every sample; more samples cost time, not much accuracy.
CALIBRATION_SAMPLE_CAP = 64
# Fidelity is measured on this many inputs (each one witness: 6 ms for the digits MLP), so that
# the tolerance it sets rejects an honest prediction with a chance of at most 1/(N+1).
FIDELITY_SAMPLES = 256
# (decomp_base, decomp_legs) candidates, see _calibrate: ezkl's default first, so it wins ties.
DECOMPOSITIONS = ((16384, 2), (1024, 3))
# A model's own circuit shows its inputs and outputs; a batch circuit shows only their hashes.
PUBLIC_IO = "public"
HASHED_IO = "hashed"
# Batch circuits grow linearly with the batch size; beyond this a proof costs minutes.
MAX_BATCH_SIZE = 64
# See fidelity_tolerance.
TOLERANCE_DIFF_FACTOR = 2.0
TOLERANCE_QUANTIZATION_STEPS = 4

_ORT_DATATYPES = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(float16)": "FP16",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(bool)": "BOOL",
}

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


@dataclass(frozen=True)
class ModelSignature:
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


@dataclass(frozen=True)
class CircuitFiles:
    """The working copies ezkl reads and writes during one registration."""

    directory: Path

    @property
    def settings(self) -> Path:
        return self.directory / "settings.json"

    @property
    def calibration(self) -> Path:
        return self.directory / "calibration.json"

    @property
    def compiled(self) -> Path:
        return self.directory / "model.compiled"

    @property
    def verifying_key(self) -> Path:
        return self.directory / "vk.key"

    @property
    def proving_key(self) -> Path:
        return self.directory / "pk.key"

    @property
    def srs_slice(self) -> Path:
        return self.directory / "srs-slice.srs"

    def sample_input(self, index: int) -> Path:
        return self.directory / f"sample-{index}.json"

    def sample_witness(self, index: int) -> Path:
        return self.directory / f"witness-{index}.json"

    @property
    def proof(self) -> Path:
        return self.directory / "proof.json"


@dataclass(frozen=True)
class CircuitChoices:
    """What calibration may pick from. A batch circuit is given its model circuit's choices, so
    each entry is quantized exactly as the model's own circuit quantizes it (and the measured
    fidelity holds for it too), and calibration tries one configuration instead of dozens."""

    io_visibility: str
    decompositions: tuple[tuple[int, int], ...]
    # (input scale, scale rebase multiplier) to use; None lets calibration search.
    scales: tuple[int, int] | None = None


@dataclass(frozen=True)
class KeyedCircuit:
    """A compiled circuit after setup and one verified proof, with its artifacts stored."""

    commitment: str
    logrows: int
    keys: KeySizes
    prove_seconds: float
    srs: SrsInfo
    artifacts: dict[str, str]


def check_param_visibility(visibility: str) -> str:
    if visibility == DEFAULT_PARAM_VISIBILITY:
        return visibility
    reason = _UNSUPPORTED_VISIBILITY.get(visibility)
    if reason is None:
        reason = f"unknown visibility; use {DEFAULT_PARAM_VISIBILITY!r}"
    raise RegistrationError(f"param_visibility {visibility!r} refused: {reason}")


def read_signature(session: ort.InferenceSession) -> ModelSignature:
    """Names, datatypes and fixed shapes of the model's inputs and outputs; a circuit has one
    size, so every dimension must be a number."""

    def spec(arg: Any, role: str) -> TensorSpec:
        datatype = _ORT_DATATYPES.get(arg.type)
        if datatype is None:
            raise RegistrationError(
                f"{role} {arg.name!r} has type {arg.type}, which is unsupported"
            )
        if not all(isinstance(d, int) and d > 0 for d in arg.shape):
            raise RegistrationError(
                f"{role} {arg.name!r} has shape {arg.shape} with a dynamic dimension; a circuit "
                "needs fixed shapes: export the model with a fixed batch size (e.g. "
                "torch.onnx.export without dynamic_axes)"
            )
        return TensorSpec(name=arg.name, datatype=datatype, shape=[int(d) for d in arg.shape])

    return ModelSignature(
        inputs=[spec(arg, "input") for arg in session.get_inputs()],
        outputs=[spec(arg, "output") for arg in session.get_outputs()],
    )


def fidelity_tolerance(max_abs_diff: float, output_scale: int) -> float:
    """The served-vs-proven difference a client accepts by default.

    For an input drawn like the N measured ones, the chance that its gap exceeds the largest of
    the N is at most 1/(N+1) (the N+1 gaps are exchangeable, so any one is the largest with
    probability 1/(N+1)). That is the bound the card states. Doubling the worst case, and a
    floor of a few quantization steps for models whose measured gap is near zero, make the real
    chance far smaller; neither is needed for the stated bound.
    """
    step = 2.0**-output_scale
    return TOLERANCE_DIFF_FACTOR * max_abs_diff + TOLERANCE_QUANTIZATION_STEPS * step


def fidelity_inputs(samples: npt.NDArray[Any], count: int) -> npt.NDArray[Any]:
    """The calibration samples, then inputs drawn uniformly from the box they span, `count` in
    all. Calibration sets are often a few dozen rows, and a tolerance measured on 16 of them
    rejected 1 honest prediction in 20 on random inputs; the box covers inputs a client sends
    that are unlike the calibration rows without leaving the ranges the circuit was sized for.
    The draw is seeded by the samples, so a registration is reproducible."""
    real = samples[:count]
    missing = count - len(real)
    if missing <= 0:
        return real
    seed = int.from_bytes(hashlib.sha256(np.ascontiguousarray(samples).tobytes()).digest()[:8])
    rng = np.random.default_rng(seed)
    low, high = samples.min(axis=0), samples.max(axis=0)
    size = (missing, *samples.shape[1:])
    drawn: npt.NDArray[Any]
    if samples.dtype.kind in "biu":
        drawn = rng.integers(low.astype(np.int64), high.astype(np.int64), size, endpoint=True)
    else:
        drawn = rng.uniform(low.astype(np.float64), high.astype(np.float64), size)
    return np.concatenate([real, drawn.astype(samples.dtype)])


def fidelity_method(samples: int) -> str:
    return (
        f"tolerance = {TOLERANCE_DIFF_FACTOR:g} x the largest |served - proven| over {samples} "
        f"inputs (the calibration samples, then inputs drawn uniformly from the box they span) "
        f"+ {TOLERANCE_QUANTIZATION_STEPS} steps of the output scale; an honest prediction on "
        f"an input like these exceeds the largest measured gap with probability at most "
        f"1/{samples + 1}"
    )


def register_model(
    name: str,
    *,
    onnx_path: Path,
    calibration: npt.NDArray[Any],
    store: ArtifactStore,
    srs_source: SrsSource,
    scratch: Path,
    max_logrows: int = DEFAULT_MAX_LOGROWS,
    param_visibility: str = DEFAULT_PARAM_VISIBILITY,
    ceremony: CeremonySrs | None = None,
    batch_size: int = 1,
    scale: int | None = None,
) -> ModelCard:
    """Builds, checks and stores the model's circuit, and returns its card.

    calibration holds N samples of the model's single input, shape (N, *input shape). scratch
    is an empty working directory on the store's file system; the caller removes it. A
    batch_size above 1 also builds the batch circuit over that many requests (batching.py).
    A scale fixes the input and parameter scales (with rebase multiplier 1) instead of letting
    calibration search them.
    """
    visibility = check_param_visibility(param_visibility)
    check_batch_size(batch_size)
    session = _load_onnx(onnx_path)
    signature = read_signature(session)
    samples = _calibration_samples(calibration, signature)
    files = CircuitFiles(scratch)
    try:
        with ExitStack() as pinned:
            return _build(
                name,
                onnx_path=onnx_path,
                session=session,
                signature=signature,
                samples=samples,
                files=files,
                store=store,
                srs_source=srs_source,
                max_logrows=max_logrows,
                visibility=visibility,
                ceremony=ceremony,
                pinned=pinned,
                batch_size=batch_size,
                scale=scale,
            )
    except (ProvingError, SrsError, BatchError) as exc:
        raise RegistrationError(str(exc)) from exc


def check_batch_size(batch_size: int) -> int:
    if not 0 <= batch_size <= MAX_BATCH_SIZE:
        raise RegistrationError(
            f"batch_size {batch_size} refused: use 0 or 1 for no batching, or up to "
            f"{MAX_BATCH_SIZE} (a batch circuit grows with every entry)"
        )
    return batch_size


def _build(
    name: str,
    *,
    onnx_path: Path,
    session: ort.InferenceSession,
    signature: ModelSignature,
    samples: npt.NDArray[Any],
    files: CircuitFiles,
    store: ArtifactStore,
    srs_source: SrsSource,
    max_logrows: int,
    visibility: str,
    ceremony: CeremonySrs | None,
    pinned: ExitStack,
    batch_size: int,
    scale: int | None,
) -> ModelCard:
    """pinned keeps the local copies of stored artifacts that ezkl uses until the card is
    made."""
    input_spec = signature.inputs[0]
    files.calibration.write_bytes(
        witness_input_json(
            [NamedTensor(input_spec.name, input_spec.datatype, samples[:CALIBRATION_SAMPLE_CAP])]
        )
    )
    with _timed(name, "calibrate"):
        _calibrate(
            onnx_path,
            files,
            max_logrows,
            visibility,
            CircuitChoices(
                io_visibility=PUBLIC_IO,
                decompositions=DECOMPOSITIONS,
                scales=None if scale is None else (scale, 1),
            ),
        )
    _compile(name, onnx_path, files)
    settings_bytes = files.settings.read_bytes()
    settings = json.loads(settings_bytes)
    output_scales = [int(s) for s in settings["model_output_scales"]]
    fidelity_samples = fidelity_inputs(samples, FIDELITY_SAMPLES)
    for index, sample in enumerate(fidelity_samples):
        files.sample_input(index).write_bytes(
            witness_input_json([NamedTensor(input_spec.name, input_spec.datatype, sample)])
        )
    _mock(name, files)
    with _timed(name, "fidelity"):
        fidelity = _measure_fidelity(session, signature, fidelity_samples, output_scales, files)
    terms = serving_terms(signature.inputs, signature.outputs, fidelity)
    keyed = _key_and_prove(name, files, store, srs_source, ceremony, pinned, terms)
    batch = None
    if batch_size > 1:
        batch = build_batch_circuit(
            name,
            onnx_path=onnx_path,
            signature=signature,
            samples=samples[:CALIBRATION_SAMPLE_CAP],
            model_files=files,
            fidelity_samples=len(fidelity_samples),
            batch_size=batch_size,
            store=store,
            srs_source=srs_source,
            max_logrows=max_logrows,
            visibility=visibility,
            ceremony=ceremony,
            pinned=pinned,
            terms=terms,
        )
    artifacts = {"onnx": store.put_file(onnx_path), **keyed.artifacts}
    return ModelCard(
        name=name,
        commitment=keyed.commitment,
        ezkl_version=EZKL_VERSION,
        visibility=Visibility(input=PUBLIC_IO, output=PUBLIC_IO, param=visibility),
        logrows=keyed.logrows,
        input_scale=int(settings["model_input_scales"][0]),
        output_scale=min(output_scales),
        inputs=signature.inputs,
        outputs=signature.outputs,
        fidelity=fidelity,
        keys=keyed.keys,
        prove_seconds=keyed.prove_seconds,
        srs=keyed.srs,
        onnx_sha256=artifacts["onnx"],
        artifacts=artifacts,
        created_at=time.time(),
        batch=batch,
    )


def build_batch_circuit(
    name: str,
    *,
    onnx_path: Path,
    signature: ModelSignature,
    samples: npt.NDArray[Any],
    model_files: CircuitFiles,
    fidelity_samples: int,
    batch_size: int,
    store: ArtifactStore,
    srs_source: SrsSource,
    max_logrows: int,
    visibility: str,
    ceremony: CeremonySrs | None,
    pinned: ExitStack,
    terms: bytes,
) -> BatchCircuit:
    """The batch circuit, built with the model circuit's scales and decomposition, and checked
    to give every entry exactly the outputs the model's own circuit gives.

    model_files must hold the model circuit as register_model left it (settings, calibration
    sample inputs and witnesses). A batch of 1 is no use to serve, but is the baseline that
    bench/batching.py compares larger batches with.
    """
    label = f"{name} (batch of {batch_size})"
    files = CircuitFiles(model_files.directory / f"batch-{batch_size}")
    files.directory.mkdir()
    batch_onnx = files.directory / "model.onnx"
    replicate_model(onnx_path, batch_onnx, batch_size)
    input_spec = signature.inputs[0]
    # Each entry sees every calibration sample, in a different order.
    files.calibration.write_bytes(
        witness_input_json(
            [
                NamedTensor(input_spec.name, input_spec.datatype, np.roll(samples, -i, axis=0))
                for i in range(batch_size)
            ]
        )
    )
    model_settings = json.loads(model_files.settings.read_bytes())
    run_args = model_settings["run_args"]
    with _timed(label, "calibrate"):
        _calibrate(
            batch_onnx,
            files,
            max_logrows,
            visibility,
            CircuitChoices(
                io_visibility=HASHED_IO,
                decompositions=((int(run_args["decomp_base"]), int(run_args["decomp_legs"])),),
                scales=(int(run_args["input_scale"]), int(run_args["scale_rebase_multiplier"])),
            ),
        )
    _compile(label, batch_onnx, files)
    sources = [i % fidelity_samples for i in range(batch_size)]
    files.sample_input(0).write_bytes(
        batch_witness_input([model_files.sample_input(i).read_bytes() for i in sources], batch_size)
    )
    _mock(label, files)
    batch_witness = read_witness(files.sample_witness(0))
    outputs_per_entry = len(signature.outputs)
    for index, source in enumerate(sources):
        expected = read_witness(model_files.sample_witness(source))["outputs"]
        if entry_outputs(batch_witness, index, outputs_per_entry) != expected:
            raise RegistrationError(
                f"entry {index} of the batch circuit computes other outputs than the model's "
                "own circuit for the same input, so the model's measured fidelity would not "
                "hold for batched proofs; register without batching"
            )
    keyed = _key_and_prove(label, files, store, srs_source, ceremony, pinned, terms)
    settings = json.loads(files.settings.read_bytes())
    return BatchCircuit(
        size=batch_size,
        commitment=keyed.commitment,
        logrows=keyed.logrows,
        input_scale=int(settings["model_input_scales"][0]),
        output_scale=min(int(s) for s in settings["model_output_scales"]),
        keys=keyed.keys,
        prove_seconds=keyed.prove_seconds,
        srs=keyed.srs,
        artifacts={"onnx": store.put_file(batch_onnx), **keyed.artifacts},
    )


def _compile(label: str, onnx_path: Path, files: CircuitFiles) -> None:
    with _timed(label, "compile"):
        run_ezkl(
            "compiling the circuit",
            lambda: ezkl.compile_circuit(str(onnx_path), str(files.compiled), str(files.settings)),
        )


def _mock(label: str, files: CircuitFiles) -> None:
    with _timed(label, "mock"):
        _witness(files, 0)
        run_ezkl(
            "checking the circuit's constraints on calibration sample 0 (mock)",
            lambda: ezkl.mock(str(files.sample_witness(0)), str(files.compiled)),
        )


def _key_and_prove(
    label: str,
    files: CircuitFiles,
    store: ArtifactStore,
    srs_source: SrsSource,
    ceremony: CeremonySrs | None,
    pinned: ExitStack,
    terms: bytes,
) -> KeyedCircuit:
    """Setup, one proof of sample 0 verified against the k=1 slice a client gets, and the
    circuit's artifacts stored (all but its ONNX). terms are the card's serving terms, which
    the commitment covers."""
    settings_bytes = files.settings.read_bytes()
    logrows = int(json.loads(settings_bytes)["run_args"]["logrows"])
    with _timed(label, "srs"):
        srs = srs_source.resolve(logrows, ceremony=ceremony)
        srs_digest = store.put_file(srs.path)
        if srs_digest != srs.file_sha256:
            raise RegistrationError(f"the SRS file {srs.path} changed while it was being read")
        srs_path = pinned.enter_context(store.local_file(srs_digest))
        slice_bytes = verifier_slice(store.read_bytes(srs_digest))
        files.srs_slice.write_bytes(slice_bytes)
    with _timed(label, "setup"):
        run_ezkl(
            "generating the keys (setup)",
            lambda: ezkl.setup(
                str(files.compiled),
                str(files.verifying_key),
                str(files.proving_key),
                srs_path=str(srs_path),
                witness_path=None,
                disable_selector_compression=False,
            ),
        )
    started = time.monotonic()
    with _timed(label, "prove"):
        run_ezkl(
            "proving calibration sample 0",
            lambda: ezkl.prove(
                str(files.sample_witness(0)),
                str(files.compiled),
                str(files.proving_key),
                str(files.proof),
                srs_path=str(srs_path),
            ),
        )
    prove_seconds = time.monotonic() - started
    with _timed(label, "verify"):
        verify_proof(
            files.proof,
            settings=files.settings,
            verifying_key=files.verifying_key,
            srs_slice=files.srs_slice,
        )
    verifying_key = files.verifying_key.read_bytes()
    proving_key_bytes = files.proving_key.stat().st_size
    identity = srs_identity(slice_bytes)
    return KeyedCircuit(
        commitment=model_commitment(
            verifying_key=verifying_key,
            settings=settings_bytes,
            srs_identity=identity,
            ezkl_version=EZKL_VERSION,
            serving_terms=terms,
        ),
        logrows=logrows,
        keys=KeySizes(proving_key_bytes=proving_key_bytes, verifying_key_bytes=len(verifying_key)),
        prove_seconds=prove_seconds,
        srs=SrsInfo(
            origin=srs.origin, logrows=srs.logrows, file_sha256=srs_digest, identity=identity
        ),
        artifacts={
            "compiled": store.put_file(files.compiled),
            "settings": store.put_bytes(settings_bytes),
            "vk": store.put_bytes(verifying_key),
            "pk": store.put_file(files.proving_key, move=True),
            "srs": srs_digest,
            "srs_slice": store.put_bytes(slice_bytes),
        },
    )


def _load_onnx(onnx_path: Path) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise RegistrationError(
            f"onnxruntime cannot load the model: {exc}; send a valid ONNX file (opset 17 is "
            "known to work)"
        ) from exc


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


def _calibration_samples(
    calibration: npt.NDArray[Any], signature: ModelSignature
) -> npt.NDArray[Any]:
    if len(signature.inputs) != 1:
        names = [spec.name for spec in signature.inputs]
        raise RegistrationError(
            f"the model has {len(names)} inputs {names}; registration supports models with "
            "exactly one input, since calibration data is one array"
        )
    spec = signature.inputs[0]
    expected = ("N", *spec.shape)
    if calibration.ndim != len(expected) or list(calibration.shape[1:]) != spec.shape:
        raise RegistrationError(
            f"calibration data has shape {calibration.shape}; expected {expected}: N samples "
            f"of input {spec.name!r}, each of shape {spec.shape}"
        )
    if calibration.shape[0] == 0:
        raise RegistrationError("calibration data holds no samples; send at least one")
    if not np.issubdtype(calibration.dtype, np.number) and calibration.dtype != np.bool_:
        raise RegistrationError(f"calibration data has dtype {calibration.dtype}; send numbers")
    samples = calibration.astype(numpy_dtype(spec.datatype))
    if not np.isfinite(samples.astype(np.float64)).all():
        raise RegistrationError("calibration data holds NaN or infinity; send finite values")
    return samples


def _calibrate(
    onnx_path: Path,
    files: CircuitFiles,
    max_logrows: int,
    visibility: str,
    choices: CircuitChoices,
) -> None:
    """Calibrates once per candidate decomposition on files.calibration and keeps the smallest
    circuit.

    ezkl range-checks values by splitting them into `decomp_legs` digits of base `decomp_base`,
    and its lookup table has `decomp_base` rows: the default base 2^14 alone puts a floor of
    2^15 rows under every circuit. For small models three legs of base 2^10 (a range of 2^30,
    wider than the default's 2^28) give a circuit 8 times smaller, with proving time and key
    size shrinking alike; for large models the table no longer dominates and the default wins.
    Trying both costs one extra calibration.
    """
    best: tuple[int, int, bytes] | None = None
    failures: list[str] = []
    for base, legs in choices.decompositions:
        candidate = files.directory / f"settings-decomp-{base}x{legs}.json"
        try:
            _calibrate_one(
                onnx_path, files, candidate, max_logrows, visibility, choices, base, legs
            )
        except RegistrationError as exc:
            failures.append(str(exc))
            continue
        settings = json.loads(candidate.read_bytes())
        size = (int(settings["run_args"]["logrows"]), int(settings["num_rows"]))
        if best is None or size < best[:2]:
            best = (*size, candidate.read_bytes())
    if best is None:
        raise RegistrationError(failures[0])
    files.settings.write_bytes(best[2])


def _calibrate_one(
    onnx_path: Path,
    files: CircuitFiles,
    settings: Path,
    max_logrows: int,
    visibility: str,
    choices: CircuitChoices,
    decomp_base: int,
    decomp_legs: int,
) -> None:
    # ezkl's stub declares none of PyRunArgs' attributes, nor calibrate_settings' defaults.
    run_args: Any = ezkl.PyRunArgs()
    run_args.input_visibility = choices.io_visibility
    run_args.output_visibility = choices.io_visibility
    run_args.param_visibility = visibility
    run_args.decomp_base = decomp_base
    run_args.decomp_legs = decomp_legs
    _model_step(
        "ezkl cannot build a circuit for this model (is every operator supported by ezkl "
        f"{EZKL_VERSION}?)",
        lambda: ezkl.gen_settings(str(onnx_path), str(settings), py_run_args=run_args),
    )
    # ezkl's stub declares no defaults for calibrate_settings' options.
    scales: dict[str, Any] = {}
    if choices.scales is not None:
        scale, multiplier = choices.scales
        scales = {"scales": [scale], "scale_rebase_multiplier": [multiplier]}
    try:
        ezkl.calibrate_settings(
            str(files.calibration),
            str(onnx_path),
            str(settings),
            "resources",
            max_logrows=max_logrows,
            **scales,
        )
    except Exception as exc:
        if "could not find any suitable parameters" in str(exc):
            raise RegistrationError(
                f"the model does not fit in a circuit of at most 2^{max_logrows} rows: raise "
                "max_logrows (each step doubles proving time and memory) or use a smaller model"
            ) from exc
        raise RegistrationError(f"calibrating the circuit failed: {exc}") from exc
    # ezkl may settle on more rows than the cap allows (seen: logrows 7 under a cap of 4).
    logrows = int(json.loads(settings.read_bytes())["run_args"]["logrows"])
    if logrows > max_logrows:
        raise RegistrationError(
            f"the model needs a circuit of 2^{logrows} rows, over the cap of 2^{max_logrows} rows: "
            "raise max_logrows (each step doubles proving time and memory) or use a smaller model"
        )


def _model_step(problem: str, call: Callable[[], object]) -> None:
    try:
        call()
    except Exception as exc:
        raise RegistrationError(f"{problem}: {exc}") from exc


def _witness(files: CircuitFiles, index: int) -> None:
    run_ezkl(
        f"computing the witness of calibration sample {index}",
        lambda: ezkl.gen_witness(
            str(files.sample_input(index)),
            str(files.compiled),
            str(files.sample_witness(index)),
            vk_path=None,
            srs_path=None,
        ),
    )


def _measure_fidelity(
    session: ort.InferenceSession,
    signature: ModelSignature,
    samples: npt.NDArray[Any],
    output_scales: list[int],
    files: CircuitFiles,
) -> Fidelity:
    """Circuit outputs, read from the witness felts as a client reads them from instances,
    against onnxruntime's floats. Argmax is taken along each output's last axis."""
    input_name = signature.inputs[0].name
    max_abs_diff = 0.0
    agreeing = 0
    compared = 0
    for index, sample in enumerate(samples):
        if index > 0:
            _witness(files, index)
        served = session.run(None, {input_name: sample})
        witness = json.loads(files.sample_witness(index).read_text())
        for spec, scale, felts, reference in zip(
            signature.outputs, output_scales, witness["outputs"], served, strict=True
        ):
            proven = np.array([ezkl.felt_to_float(felt, scale) for felt in felts]).reshape(
                spec.shape
            )
            expected = np.asarray(reference, dtype=np.float64)
            max_abs_diff = max(max_abs_diff, float(np.max(np.abs(proven - expected))))
            same = np.argmax(proven, axis=-1) == np.argmax(expected, axis=-1)
            agreeing += int(np.sum(same))
            compared += same.size
    return Fidelity(
        samples=len(samples),
        max_abs_diff=max_abs_diff,
        argmax_agreement=agreeing / compared,
        tolerance=fidelity_tolerance(max_abs_diff, min(output_scales)),
        method=fidelity_method(len(samples)),
        false_rejection_bound=1 / (len(samples) + 1),
    )


@contextmanager
def _timed(model: str, phase: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    logger.info("registering %s: %s took %.2f s", model, phase, time.monotonic() - started)
