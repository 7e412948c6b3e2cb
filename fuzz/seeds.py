"""Real documents of every format the client and the gateway parse, to seed mutation from.

Everything is produced by the project's own code over a real (tiny) ezkl circuit: the verifier
bundle, a proof, a signed prediction and receipt, statements signed by a real Ed25519 key, a
certificate and a retrieval result that carry the real proof, an evidence bundle, a
proof-of-learning archive, and the bundled digits example's .npy files (built by area in
fuzz/seeding/). Fuzzing that starts from valid documents reaches the checks behind the parsers;
fuzzing from random bytes rarely does.

Used by the property tests (`tests/fixtures/fuzz_fixtures.py`, over the session's
`client_world`) and by `fuzz/seed_corpus.py` (which builds its own circuit).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fuzz.seeding.batch_circuit import BatchCircuit, build_batch_circuit
from fuzz.seeding.learning import learning_documents
from fuzz.seeding.protocols import (
    accuracy_documents,
    contest_documents,
    proven_examples,
    records_of,
    retrieval_documents,
)
from fuzz.seeding.shared import raw_key
from fuzz.seeding.tensors import npy_documents, wire_documents
from zkgate.core.batch_entry import BatchEntry
from zkgate.core.bundle import VerifierBundle
from zkgate.core.held_out_set import TestSet
from zkgate.core.prediction import Prediction


@dataclass
class Seeds:
    """The verification context (bundle, key, proof, ...) and one real document per format."""

    bundle: VerifierBundle
    commitment: str
    gateway_key: bytes
    proof: bytes
    prediction: Prediction
    test_set: TestSet
    srs_path: Path
    onnx: bytes
    # The same model's batch circuit (hashed inputs and outputs, one entry), its bundle and a
    # real proof: what batched predictions and accuracy certificates are checked under.
    batch_bundle: VerifierBundle
    batch_commitment: str
    batch_proof: bytes
    documents: dict[str, bytes] = field(default_factory=dict)

    def json(self, name: str) -> Any:
        return json.loads(self.documents[name])


def _model_documents(
    bundle: VerifierBundle, proof: bytes, prediction: Prediction, batch: BatchCircuit
) -> dict[str, bytes]:
    """The bundle's parts, the proof, the prediction and receipt, and the batch circuit's."""
    return {
        "card": bundle.card_json.encode(),
        "settings": bundle.settings,
        "verifying_key": bundle.verifying_key,
        "srs_slice": bundle.srs_slice,
        "proof": proof,
        "prediction": prediction.to_json().encode(),
        "receipt": prediction.receipt.to_json().encode(),
        "batch_card": batch.bundle.card_json.encode(),
        "batch_settings": batch.bundle.settings,
        "batch_proof": batch.proof,
        "batch_entry": BatchEntry(index=0, size=1, outputs=batch.outputs).to_json().encode(),
    }


def build_seeds(
    *,
    bundle: VerifierBundle,
    key: Ed25519PrivateKey,
    proof: bytes,
    prediction: Prediction,
    srs_path: Path,
    onnx: bytes,
    batch: BatchCircuit,
) -> Seeds:
    """Every document, from a world of one committed model: its circuit (public inputs and
    outputs) and its batch circuit (hashed, one entry)."""
    examples = proven_examples(prediction)
    test_set = TestSet.from_arrays(examples, np.arange(6) % 3)
    dataset = records_of(bundle)
    documents = {
        **_model_documents(bundle, proof, prediction, batch),
        **contest_documents(key, prediction),
        **accuracy_documents(key, bundle, batch, prediction, test_set),
        **retrieval_documents(key, bundle, proof, dataset),
        **learning_documents(key),
        **npy_documents(test_set, dataset, examples),
        **wire_documents(prediction),
    }
    return Seeds(
        bundle=bundle,
        commitment=bundle.commitment(),
        gateway_key=raw_key(key),
        proof=proof,
        prediction=prediction,
        test_set=test_set,
        srs_path=srs_path,
        onnx=onnx,
        batch_bundle=batch.bundle,
        batch_commitment=batch.bundle.commitment(),
        batch_proof=batch.proof,
        documents=documents,
    )


def build_world(directory: Path) -> Seeds:
    """A fresh tiny circuit (the one tests/fixtures/client_fixtures.py builds), proven once,
    and every document from it. Takes a few seconds."""
    from tests.fixtures.client_fixtures import X, build_circuit, make_bundle, signed_prediction

    circuit = build_circuit(directory / "model", seed=1)
    bundle = make_bundle(circuit)
    key = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
    prediction = signed_prediction(
        key, commitment=bundle.commitment(), x=X, y=circuit.serve(X), request_id="req-fuzz"
    )
    batch = build_batch_circuit(directory / "batch", circuit.net, X, bundle.card)
    return build_seeds(
        bundle=bundle,
        key=key,
        proof=circuit.prove(X),
        prediction=prediction,
        srs_path=circuit.srs,
        onnx=(circuit.directory / "model.onnx").read_bytes(),
        batch=batch,
    )
