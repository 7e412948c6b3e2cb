"""Turning an ONNX model and calibration data into a registered, provable model and its card.

Registration is the one time the provider's claims about a model are measured rather than
asserted: the circuit is tuned (tuning.py: the fastest measured layout meeting the fidelity
target) or, with tuning `none`, calibrated by ezkl (calibration.py); compiled and checked on a
sample (compilation.py); compared against onnxruntime (fidelity.py); and keyed and made to
produce one real, measured proof that verifies against the same k=1 verifier slice a client
gets (keying.py). Only then are artifacts stored and the commitment computed. This module runs the
stages in order and makes the card.

Failures a user can fix (a bad file, an unsupported model, data of the wrong shape, too small a
logrows cap, an unsafe visibility) raise RegistrationError with what to do; they are
deterministic, so a job queue must not retry them.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from zkgate.core.card import Fidelity, ModelCard, Tuning, Visibility, serving_terms
from zkgate.core.fidelity_target import (
    DEFAULT_EFFORT,
    DEFAULT_TARGET,
    FidelityTarget,
    TuningEffort,
)
from zkgate.core.job_stages import JobStage
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.circuits.batch_axis import check_rows_independent, fixed_row_graph
from zkgate.prover.circuits.batch_registration import build_batch_circuit
from zkgate.prover.circuits.batching import BatchError
from zkgate.prover.circuits.calibration import (
    CALIBRATION_SAMPLE_CAP,
    DECOMPOSITIONS,
    PUBLIC_IO,
    CircuitChoices,
    calibrate,
    settings_output_scales,
)
from zkgate.prover.circuits.circuit_files import CircuitFiles
from zkgate.prover.circuits.compilation import compile_circuit, mock
from zkgate.prover.circuits.ezkl_calls import EZKL_VERSION, ProvingError
from zkgate.prover.circuits.fidelity import (
    FIDELITY_SAMPLES,
    fidelity_inputs,
    measure_fidelity,
    write_sample_inputs,
)
from zkgate.prover.circuits.keying import Keying, MeasuredKeys, key_and_measure, store_keys
from zkgate.prover.circuits.model_signature import (
    calibration_samples,
    load_onnx,
    read_signature,
)
from zkgate.prover.circuits.onnx_ml.conversion import convert_onnx_ml
from zkgate.prover.circuits.onnx_ml.record import conversion_record
from zkgate.prover.circuits.registration_checks import (
    DEFAULT_MAX_LOGROWS,
    DEFAULT_PARAM_VISIBILITY,
    Calibration,
    RegistrationError,
    check_batch_size,
    check_param_visibility,
)
from zkgate.prover.circuits.srs_files import CeremonySrs, SrsError
from zkgate.prover.circuits.srs_source import SrsSource
from zkgate.prover.circuits.stage_timing import stage
from zkgate.prover.circuits.submitted_model import SubmittedModel
from zkgate.prover.circuits.tuning import tune_circuit


def register_model(
    name: str,
    *,
    onnx_path: Path,
    calibration: Calibration,
    store: ArtifactStore,
    srs_source: SrsSource,
    scratch: Path,
    max_logrows: int = DEFAULT_MAX_LOGROWS,
    param_visibility: str = DEFAULT_PARAM_VISIBILITY,
    ceremony: CeremonySrs | None = None,
    batch_size: int = 1,
    scale: int | None = None,
    fidelity_target: FidelityTarget = DEFAULT_TARGET,
    tuning: TuningEffort = DEFAULT_EFFORT,
) -> ModelCard:
    """Builds, checks and stores the model's circuit, and returns its card.

    calibration holds N samples of each model input, shape (N, *input shape): one array for a
    model with one input, or arrays by input name (calibration_samples). scratch
    is an empty working directory on the store's file system; the caller removes it. A
    batch_size above 1 also builds the batch circuit over that many requests
    (batch_registration.py). A scale fixes the input and parameter scales (with rebase
    multiplier 1) instead of letting calibration search them. tuning other than `none` searches
    for the fastest circuit meeting fidelity_target (tuning.py). Each stage is reported as it
    begins to the reporter of stage_timing.reporting_stages, if the caller set one.
    """
    choices = CircuitChoices(
        param_visibility=check_param_visibility(param_visibility),
        max_logrows=max_logrows,
        io_visibility=PUBLIC_IO,
        decompositions=DECOMPOSITIONS,
        scales=None if scale is None else (scale, 1),
    )
    check_batch_size(batch_size)
    model = _submitted_model(name, onnx_path, calibration, scratch)
    try:
        # Local copies of stored artifacts that ezkl uses stay pinned until the card is made.
        with ExitStack() as pinned:
            keying = Keying(store, srs_source, ceremony, pinned)
            if tuning == TuningEffort.NONE:
                circuit = _calibrated_circuit(model, choices, keying)
            else:
                circuit = _tuned_circuit(model, choices, keying, fidelity_target, tuning)
            return _card(model, choices, keying, circuit, batch_size)
    except (ProvingError, SrsError, BatchError) as exc:
        raise RegistrationError(str(exc)) from exc


def _submitted_model(
    name: str, onnx_path: Path, calibration: Calibration, scratch: Path
) -> SubmittedModel:
    """The model checked against its calibration data, with the graph its circuit is built
    from: the submitted one, or for a dynamic batch axis a copy fixed at one row. An ONNX-ML
    graph (skl2onnx) is first rewritten as standard ONNX and checked against the original on
    the calibration data; the rewrite is then the model, served and proven alike."""
    converted = convert_onnx_ml(onnx_path, scratch / "converted.onnx")
    graph = onnx_path if converted is None else converted.path
    served = load_onnx(graph)
    signature = read_signature(served)
    samples = calibration_samples(calibration, signature)
    conversion = (
        None
        if converted is None
        else conversion_record(onnx_path, converted, served, list(samples.arrays))
    )
    circuit, session = graph, served
    if signature.dynamic_batch:
        check_rows_independent(served, signature, list(samples.arrays))
        circuit = fixed_row_graph(graph, scratch / "row-circuit.onnx")
        session = load_onnx(circuit)
    return SubmittedModel(
        name, circuit, graph, session, signature, samples, CircuitFiles(scratch), conversion
    )


@dataclass(frozen=True)
class _Circuit:
    """A keyed circuit with its measured fidelity, ready to be stored."""

    keys: MeasuredKeys
    fidelity: Fidelity
    tuning: Tuning | None


def _card(
    model: SubmittedModel,
    choices: CircuitChoices,
    keying: Keying,
    circuit: _Circuit,
    batch_size: int,
) -> ModelCard:
    files = circuit.keys.files
    terms = serving_terms(model.signature.inputs, model.signature.outputs, circuit.fidelity)
    with stage(model.name, JobStage.STORING):
        keyed = store_keys(model.name, circuit.keys, keying.store, terms)
    batch = None
    if batch_size > 1:
        with stage(model.name, JobStage.BATCH_CIRCUIT):
            batch = build_batch_circuit(
                model.name,
                onnx_path=model.onnx_path,
                signature=model.signature,
                samples=model.samples[:CALIBRATION_SAMPLE_CAP],
                model_files=files,
                fidelity_samples=circuit.fidelity.samples,
                batch_size=batch_size,
                store=keying.store,
                srs_source=keying.srs_source,
                max_logrows=choices.max_logrows,
                visibility=choices.param_visibility,
                ceremony=keying.ceremony,
                pinned=keying.pinned,
                terms=terms,
            )
    settings = json.loads(files.settings.read_bytes())
    artifacts = {"onnx": keying.store.put_file(model.served_onnx), **keyed.artifacts}
    return ModelCard(
        name=model.name,
        commitment=keyed.commitment,
        ezkl_version=EZKL_VERSION,
        visibility=Visibility(input=PUBLIC_IO, output=PUBLIC_IO, param=choices.param_visibility),
        logrows=keyed.logrows,
        # Inputs share ezkl's input scale (integer inputs may read at 0): the finest bounds
        # what the gateway lets through.
        input_scale=max(int(s) for s in settings["model_input_scales"]),
        output_scale=min(int(s) for s in settings["model_output_scales"]),
        inputs=model.signature.inputs,
        outputs=model.signature.outputs,
        fidelity=circuit.fidelity,
        keys=keyed.keys,
        prove_seconds=keyed.prove_seconds,
        prove_peak_rss_bytes=keyed.prove_peak_rss_bytes,
        srs=keyed.srs,
        onnx_sha256=artifacts["onnx"],
        artifacts=artifacts,
        created_at=time.time(),
        batch=batch,
        tuning=circuit.tuning,
        dynamic_batch=model.signature.dynamic_batch,
        conversion=model.conversion,
    )


def _calibrated_circuit(model: SubmittedModel, choices: CircuitChoices, keying: Keying) -> _Circuit:
    """ezkl's own calibration (no measured search), compiled, checked on sample 0 and keyed in
    model.files."""
    files = model.files
    files.calibration.write_bytes(model.samples[:CALIBRATION_SAMPLE_CAP].input_data())
    calibrate(model.name, model.onnx_path, files, choices)
    compile_circuit(model.name, model.onnx_path, files)
    fidelity = _fidelity(model, files)
    return _Circuit(key_and_measure(model.name, files, keying), fidelity, None)


def _tuned_circuit(
    model: SubmittedModel,
    choices: CircuitChoices,
    keying: Keying,
    target: FidelityTarget,
    effort: TuningEffort,
) -> _Circuit:
    with stage(model.name, JobStage.TUNING):
        tuned = tune_circuit(model, choices, target, effort, keying)
    fidelity = _fidelity(model, tuned.keys.files)
    return _Circuit(tuned.keys, fidelity, tuned.record)


def _fidelity(model: SubmittedModel, files: CircuitFiles) -> Fidelity:
    """The card's fidelity against onnxruntime on FIDELITY_SAMPLES inputs, after the mock of
    sample 0 (the test proof's witness)."""
    with stage(model.name, JobStage.MEASURING_FIDELITY):
        inputs = fidelity_inputs(model.samples, FIDELITY_SAMPLES)
        write_sample_inputs(files, inputs)
        mock(model.name, files)
        return measure_fidelity(
            model.name,
            model.session,
            model.signature,
            inputs,
            settings_output_scales(files.settings),
            files,
        )
