"""Keying a compiled circuit: its SRS, setup, one proof of sample 0 verified against the k=1
verifier slice a client gets, and its artifacts stored under the commitment they make up."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import ezkl

from zkgate.core.card import KeySizes, SrsInfo
from zkgate.core.commitment import model_commitment
from zkgate.core.job_stages import JobStage
from zkgate.core.srs import srs_identity, verifier_slice
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.circuits.calibration import settings_size
from zkgate.prover.circuits.circuit_files import CircuitFiles
from zkgate.prover.circuits.ezkl_calls import EZKL_VERSION, run_ezkl, verify_proof
from zkgate.prover.circuits.proof_measurement import ProofMeasurement, measured_proof
from zkgate.prover.circuits.registration_checks import RegistrationError
from zkgate.prover.circuits.srs_files import CeremonySrs, ResolvedSrs
from zkgate.prover.circuits.srs_source import SrsSource
from zkgate.prover.circuits.stage_timing import stage, timed


@dataclass(frozen=True)
class Keying:
    """What keying a circuit draws on: the SRS source, with the ceremony file a registration
    names (if any), the store the artifacts go to, and the stack that keeps the local copies
    of stored artifacts ezkl uses pinned until the card is made."""

    store: ArtifactStore
    srs_source: SrsSource
    ceremony: CeremonySrs | None
    pinned: ExitStack


@dataclass(frozen=True)
class KeyedCircuit:
    """A compiled circuit after setup and one verified proof, with its artifacts stored."""

    commitment: str
    logrows: int
    keys: KeySizes
    prove_seconds: float
    prove_peak_rss_bytes: int
    srs: SrsInfo
    artifacts: dict[str, str]


@dataclass(frozen=True)
class StoredSrs:
    resolved: ResolvedSrs
    digest: str
    # The stored copy, pinned: the proving key is made with exactly these bytes.
    local: Path
    slice_bytes: bytes


@dataclass(frozen=True)
class MeasuredKeys:
    """A compiled circuit after setup and one measured test proof, nothing stored yet: the tuner
    keys every candidate it measures this way and stores only the winner's."""

    files: CircuitFiles
    logrows: int
    srs: StoredSrs
    cost: ProofMeasurement


def key_and_prove(label: str, files: CircuitFiles, keying: Keying, terms: bytes) -> KeyedCircuit:
    """Keys files' compiled circuit and stores its artifacts (all but its ONNX). terms are the
    card's serving terms, which the commitment covers."""
    return store_keys(label, key_and_measure(label, files, keying), keying.store, terms)


def key_and_measure(label: str, files: CircuitFiles, keying: Keying) -> MeasuredKeys:
    """Setup, and a test proof of sample 0's witness (which must exist) measured in a process
    of its own."""
    logrows = settings_size(files.settings)[0]
    with stage(label, JobStage.KEYING):
        with timed(label, "srs"):
            srs = _stored_srs(keying, logrows)
        run_ezkl(
            "generating the keys (setup)",
            lambda: ezkl.setup(
                str(files.compiled),
                str(files.verifying_key),
                str(files.proving_key),
                srs_path=str(srs.local),
                witness_path=None,
                disable_selector_compression=False,
            ),
        )
    with stage(label, JobStage.TEST_PROOF):
        cost = measured_proof(
            "proving calibration sample 0",
            witness=files.sample_witness(0),
            compiled=files.compiled,
            proving_key=files.proving_key,
            proof=files.proof,
            srs=srs.local,
        )
    return MeasuredKeys(files=files, logrows=logrows, srs=srs, cost=cost)


def store_keys(label: str, keys: MeasuredKeys, store: ArtifactStore, terms: bytes) -> KeyedCircuit:
    """Checks the test proof against the k=1 verifier slice a client gets, then stores the
    circuit's artifacts under the commitment they make up."""
    files = keys.files
    files.srs_slice.write_bytes(keys.srs.slice_bytes)
    with timed(label, "verify"):
        verify_proof(
            files.proof,
            settings=files.settings,
            verifying_key=files.verifying_key,
            srs_slice=files.srs_slice,
        )
    return _stored_circuit(keys, store, terms)


def _stored_srs(keying: Keying, logrows: int) -> StoredSrs:
    srs = keying.srs_source.resolve(logrows, ceremony=keying.ceremony)
    digest = keying.store.put_file(srs.path)
    if digest != srs.file_sha256:
        raise RegistrationError(f"the SRS file {srs.path} changed while it was being read")
    return StoredSrs(
        resolved=srs,
        digest=digest,
        local=keying.pinned.enter_context(keying.store.local_file(digest)),
        slice_bytes=verifier_slice(keying.store.read_bytes(digest)),
    )


def _stored_circuit(keys: MeasuredKeys, store: ArtifactStore, terms: bytes) -> KeyedCircuit:
    files, srs, cost = keys.files, keys.srs, keys.cost
    settings = files.settings.read_bytes()
    verifying_key = files.verifying_key.read_bytes()
    proving_key_bytes = files.proving_key.stat().st_size
    identity = srs_identity(srs.slice_bytes)
    return KeyedCircuit(
        commitment=model_commitment(
            verifying_key=verifying_key,
            settings=settings,
            srs_identity=identity,
            ezkl_version=EZKL_VERSION,
            serving_terms=terms,
        ),
        logrows=keys.logrows,
        keys=KeySizes(proving_key_bytes=proving_key_bytes, verifying_key_bytes=len(verifying_key)),
        prove_seconds=cost.seconds,
        prove_peak_rss_bytes=cost.peak_rss_bytes,
        srs=SrsInfo(
            origin=srs.resolved.origin,
            logrows=srs.resolved.logrows,
            file_sha256=srs.digest,
            identity=identity,
        ),
        artifacts={
            "compiled": store.put_file(files.compiled),
            "settings": store.put_bytes(settings),
            "vk": store.put_bytes(verifying_key),
            "pk": store.put_file(files.proving_key, move=True),
            "srs": srs.digest,
            "srs_slice": store.put_bytes(srs.slice_bytes),
        },
    )
