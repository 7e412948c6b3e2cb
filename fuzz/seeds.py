"""Real documents of every format the client and the gateway parse, to seed mutation from.

Everything is produced by the project's own code over a real (tiny) ezkl circuit: the verifier
bundle, a proof, a signed prediction and receipt, statements signed by a real Ed25519 key, a
certificate and a retrieval result that carry the real proof, an evidence bundle, a
proof-of-learning archive, and the bundled digits example's .npy files. Fuzzing that starts from
valid documents reaches the checks behind the parsers; fuzzing from random bytes rarely does.

Used by the property tests (`tests/fixtures/fuzz_fixtures.py`, over the session's
`client_world`) and by `fuzz/seed_corpus.py` (which builds its own circuit).
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from zkgate.client.protocols.contest.evidence import EvidenceBundle, Failure, FailureKind
from zkgate.core.attestations import (
    issue_commitment_timestamp,
    issue_training_intent,
    sign_timestamp_request,
)
from zkgate.core.batch_entry import BatchEntry
from zkgate.core.bundle import VerifierBundle
from zkgate.core.card import BatchCircuit as CardBatch
from zkgate.core.card import KeySizes, ModelCard, SrsInfo
from zkgate.core.dataset import Dataset
from zkgate.core.held_out_set import TestSet
from zkgate.core.learning.archive import build_archive
from zkgate.core.merkle import inclusion_proof
from zkgate.core.oip_codec import encode_input
from zkgate.core.prediction import Prediction
from zkgate.core.protocols.accuracy import (
    AccuracyCertificate,
    AccuracyRequest,
    CertificateEntry,
    accuracy_sample,
    issue_accuracy_statement,
)
from zkgate.core.protocols.contest import (
    ContestRequest,
    issue_contest_statement,
    nonce_commitment,
    receipt_set_digest,
)
from zkgate.core.protocols.retrieval import (
    RetrievalRequest,
    RetrievalResult,
    RetrievedRecord,
    issue_dataset_statement,
    issue_retrieval_statement,
    retrieval_sample,
)
from zkgate.core.srs import file_sha256, srs_identity, verifier_slice_of_file
from zkgate.wire import open_inference_pb2 as oip

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits"
NOW_MS = 1_700_000_000_000
CLIENT_NONCE = bytes(range(32))


def raw_key(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def _training_policy_and_manifest(key: Ed25519PrivateKey) -> tuple[bytes, bytes]:
    from zkgate.core.learning.manifest import CheckpointEntry, Manifest
    from zkgate.core.learning.policy import (
        Architecture,
        OptimizerSpec,
        Schedule,
        Thresholds,
        TrainingPolicy,
    )

    policy = TrainingPolicy(
        architecture=Architecture("mlp", (64, 16, 10)),
        optimizer=OptimizerSpec("sgd", 0.1),
        schedule=Schedule(),
        batch_size=32,
        epochs=1,
        checkpoint_interval=10,
        dataset_root="ab" * 32,
        dataset_size=100,
        thresholds=Thresholds(
            l1=1.0, l2=1.0, linf=1.0, cosine=0.1, update_ratio=0.1, state_linf=1.0,
            min_update_l2=1e-6,
        ),
    )  # fmt: skip
    owner = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    intent = issue_training_intent(
        key, owner_public_key=raw_key(owner).hex(), policy_digest=policy.digest(), now_ms=NOW_MS
    )
    manifest = Manifest(
        intent=intent,
        policy=policy,
        dataset_root=policy.dataset_root,
        dataset_size=policy.dataset_size,
        checkpoints=tuple(
            CheckpointEntry(
                step=step,
                file=f"checkpoints/{i:06d}.safetensors",
                sha256="cd" * 32,
                chain="ef" * 32,
            )
            for i, step in enumerate(policy.checkpoint_steps())
        ),
        onnx_sha256="12" * 32,
        signature=b"",
    ).signed_by(owner)
    return policy.to_json().encode(), manifest.to_json().encode()


def _learning_archive(manifest: bytes) -> bytes:
    with tempfile.TemporaryDirectory(prefix="zkgate-fuzz-archive-") as tmp:
        root = Path(tmp)
        (root / "manifest.json").write_bytes(manifest)
        (root / "checkpoints").mkdir()
        for index in range(2):
            (root / "checkpoints" / f"{index:06d}.safetensors").write_bytes(bytes(64 * (index + 1)))
        (root / "dataset.safetensors").write_bytes(bytes(256))
        (root / "model.onnx").write_bytes((DIGITS / "model.onnx").read_bytes())
        (root / "timestamps.json").write_text("[]")
        return build_archive(root)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


@dataclass(frozen=True)
class BatchCircuit:
    bundle: VerifierBundle
    proof: bytes
    # The quantized outputs (felts) the proof hashes, one list per output tensor.
    outputs: list[list[str]]


def build_batch_circuit(directory: Path, net: Any, x: np.ndarray, card: ModelCard) -> BatchCircuit:
    """`net` compiled again with hashed inputs and outputs: a batch circuit of one entry,
    keyed on its own development SRS, proven on `x`. Its card is `card` (the model's) with a
    `batch` section describing it."""
    import ezkl
    import torch

    directory.mkdir(parents=True)
    onnx_path, settings = directory / "model.onnx", directory / "settings.json"
    torch.onnx.export(
        net,
        (torch.zeros(*x.shape),),
        str(onnx_path),
        input_names=[card.inputs[0].name],
        output_names=[card.outputs[0].name],
        dynamo=False,
        opset_version=17,
    )
    run_args = ezkl.PyRunArgs()
    run_args.input_visibility = "hashed"
    run_args.output_visibility = "hashed"
    run_args.param_visibility = "fixed"
    ezkl.gen_settings(str(onnx_path), str(settings), py_run_args=run_args)
    calibration = directory / "calibration.json"
    samples = np.random.default_rng(3).random((20, x.size), dtype=np.float32)
    calibration.write_text(json.dumps({"input_data": [samples.ravel().tolist()]}))
    ezkl.calibrate_settings(
        str(calibration), str(onnx_path), str(settings), "resources", max_logrows=12
    )
    logrows = json.loads(settings.read_text())["run_args"]["logrows"]
    srs, compiled = directory / "kzg.srs", directory / "model.compiled"
    vk, pk = directory / "vk.key", directory / "pk.key"
    ezkl.gen_srs(str(srs), logrows)
    ezkl.compile_circuit(str(onnx_path), str(compiled), str(settings))
    ezkl.setup(str(compiled), str(vk), str(pk), srs_path=str(srs))
    data, witness, proof = (directory / n for n in ("input.json", "witness.json", "proof.json"))
    data.write_text(json.dumps({"input_data": [x.ravel().tolist()]}))
    ezkl.gen_witness(str(data), str(compiled), str(witness))
    ezkl.prove(str(witness), str(compiled), str(pk), str(proof), srs_path=str(srs))

    settings_bytes = settings.read_bytes()
    parsed = json.loads(settings_bytes)
    srs_slice = verifier_slice_of_file(srs)
    identity = srs_identity(srs_slice)
    # Whatever the commitment covers, the bundle computes it: the batch circuit's parts under
    # the model's card.
    commitment = VerifierBundle.from_bytes(
        card_json=card.to_json(),
        verifying_key=vk.read_bytes(),
        settings=settings_bytes,
        srs_slice=srs_slice,
    ).commitment()
    batch = CardBatch(
        size=1,
        commitment=commitment,
        logrows=logrows,
        input_scale=parsed["model_input_scales"][0],
        output_scale=parsed["model_output_scales"][0],
        keys=KeySizes(proving_key_bytes=pk.stat().st_size, verifying_key_bytes=vk.stat().st_size),
        prove_seconds=1.0,
        srs=SrsInfo(
            origin=card.srs.origin, logrows=logrows, file_sha256=file_sha256(srs), identity=identity
        ),
        artifacts={},
    )
    bundle = VerifierBundle.from_bytes(
        card_json=replace(card, batch=batch).to_json(),
        verifying_key=vk.read_bytes(),
        settings=settings_bytes,
        srs_slice=srs_slice,
    )
    outputs: list[list[str]] = json.loads(witness.read_text())["outputs"]
    return BatchCircuit(bundle=bundle, proof=proof.read_bytes(), outputs=outputs)


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
    commitment = bundle.commitment()
    batch_commitment = batch.bundle.commitment()
    documents: dict[str, bytes] = {
        "card": bundle.card_json.encode(),
        "settings": bundle.settings,
        "verifying_key": bundle.verifying_key,
        "srs_slice": bundle.srs_slice,
        "proof": proof,
        "prediction": prediction.to_json().encode(),
        "receipt": prediction.receipt.to_json().encode(),
    }
    documents["batch_card"] = batch.bundle.card_json.encode()
    documents["batch_settings"] = batch.bundle.settings
    documents["batch_proof"] = batch.proof
    documents["batch_entry"] = BatchEntry(index=0, size=1, outputs=batch.outputs).to_json().encode()

    # Contest: one receipt, sampled.
    receipts = [prediction.receipt]
    contest = issue_contest_statement(
        key,
        ContestRequest(
            receipt_set_digest=receipt_set_digest(receipts),
            receipt_count=1,
            client_nonce_sha256=nonce_commitment(CLIENT_NONCE),
            sample_size=1,
            deadline_ms=60_000,
        ),
        now_ms=NOW_MS,
    )
    documents["contest_statement"] = contest.to_json().encode()
    documents["evidence"] = (
        EvidenceBundle(
            statement=contest,
            client_nonce=CLIENT_NONCE,
            receipts=receipts,
            prediction=prediction,
            failure=Failure(
                kind=FailureKind.REFUSED,
                at_ms=NOW_MS + 10,
                code="NOT_FOUND",
                message="no such receipt",
            ),
        )
        .to_json()
        .encode()
    )

    # Accuracy: a small test set of the circuit's input shape, a statement, a certificate.
    # Every example is the proven input, so whichever are sampled, the batch proof is theirs.
    input_shape = tuple(bundle.card.inputs[0].shape)
    rng = np.random.default_rng(0)
    examples = np.stack([prediction.inputs[0].array.astype(np.float32)] * 6)
    test_set = TestSet.from_arrays(examples, np.arange(6) % 3)
    predicted = int(np.argmax(prediction.outputs[0].array))
    statement = issue_accuracy_statement(
        key,
        AccuracyRequest(
            model=bundle.card.name,
            commitment=commitment,
            batch_commitment=batch_commitment,
            test_set_commitment=test_set.commitment(),
            test_set_size=len(test_set),
            sample_size=2,
            delta="0.05",
            client_nonce_sha256=nonce_commitment(CLIENT_NONCE),
        ),
        now_ms=NOW_MS,
    )
    batch_digest = sha256_hex(batch.proof)
    sample = accuracy_sample(statement, CLIENT_NONCE)
    certificate = AccuracyCertificate(
        statement=statement,
        client_nonce=CLIENT_NONCE.hex(),
        correct=sum(int(test_set.labels[index]) == predicted for index in sample),
        entries=[
            CertificateEntry(
                test_index=index,
                label=int(test_set.labels[index]),
                predicted=predicted,
                proof_digest=batch_digest,
                batch_index=0,
                batch_size=1,
                outputs=batch.outputs,
            )
            for index in sample
        ],
        proofs={batch_digest: batch.proof.decode()},
    )
    documents["accuracy_statement"] = statement.to_json().encode()
    documents["certificate"] = certificate.to_json().encode()

    # Retrieval: a dataset of the circuit's input shape, its statement, an answer, a result.
    dataset = Dataset.from_array(rng.random((5, *input_shape[1:]), dtype=np.float32))
    dataset_statement = issue_dataset_statement(key, "fuzz-records", dataset, now_ms=NOW_MS)
    retrieval = issue_retrieval_statement(
        key,
        RetrievalRequest(
            dataset_root=dataset_statement.root,
            dataset_size=dataset_statement.size,
            predicate_model=bundle.card.name,
            predicate_commitment=commitment,
            sample_size=2,
            client_nonce_sha256=nonce_commitment(CLIENT_NONCE),
        ),
        [1],
        now_ms=NOW_MS,
    )
    leaves = dataset.leaves()
    proof_digest = sha256_hex(proof)
    returned = [1, *retrieval_sample(retrieval, CLIENT_NONCE)]
    result = RetrievalResult(
        statement=retrieval,
        client_nonce=CLIENT_NONCE.hex(),
        records=[
            RetrievedRecord(
                index=index,
                matched=index == 1,
                data=dataset.records[index].astype("<f4").tobytes().hex(),
                path=[h.hex() for h in inclusion_proof(leaves, index).path],
                proof_digest=proof_digest,
            )
            for index in returned
        ],
        proofs={proof_digest: proof.decode()},
    )
    documents["dataset_statement"] = dataset_statement.to_json().encode()
    documents["retrieval_statement"] = retrieval.to_json().encode()
    documents["retrieval_result"] = result.to_json().encode()

    # Proof-of-learning statements, policy, manifest and archive.
    owner = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    owner_hex = raw_key(owner).hex()
    documents["training_intent"] = (
        issue_training_intent(key, owner_public_key=owner_hex, policy_digest="34" * 32, now_ms=1)
        .to_json()
        .encode()
    )
    documents["commitment_timestamp"] = (
        issue_commitment_timestamp(
            key,
            owner_public_key=owner_hex,
            commitment="56" * 32,
            request_signature=sign_timestamp_request(owner, "56" * 32),
            now_ms=NOW_MS,
        )
        .to_json()
        .encode()
    )
    policy, manifest = _training_policy_and_manifest(key)
    documents["policy"] = policy
    documents["manifest"] = manifest
    documents["learning_archive"] = _learning_archive(manifest)

    # .npy files: the bundled example's, and the test set's.
    for name in ("calibration", "test_inputs", "test_labels"):
        documents[f"npy_{name}"] = (DIGITS / f"{name}.npy").read_bytes()
    documents["npy_examples"], documents["npy_labels"] = test_set.to_npy()
    documents["npy_records"] = dataset.to_npy()
    documents["npy_zip"] = _npz_of(examples)

    # A tensor as fuzz/entry_points.tensor_from_raw reads it: FP32 (selector 10 | 0x40 for
    # small dimensions), rank 2, dimensions (1, 4), then its bytes.
    tensor = prediction.inputs[0]
    dims = b"".join(int(d).to_bytes(8, "little", signed=True) for d in tensor.shape)
    documents["tensor_raw"] = bytes([10, 2]) + dims + tensor.raw_bytes()
    # The prediction's inputs as ModelInferRequests on the wire: raw contents, and typed.
    raw = oip.ModelInferRequest(model_name=prediction.model)
    typed = oip.ModelInferRequest(model_name=prediction.model)
    for tensor in prediction.inputs:
        encode_input(raw, tensor)
        message = typed.inputs.add(
            name=tensor.name, datatype=tensor.datatype, shape=list(tensor.shape)
        )
        message.contents.fp32_contents.extend(float(v) for v in tensor.array.ravel())
    documents["oip_request"] = raw.SerializeToString()
    documents["oip_request_typed"] = typed.SerializeToString()
    return Seeds(
        bundle=bundle,
        commitment=commitment,
        gateway_key=raw_key(key),
        proof=proof,
        prediction=prediction,
        test_set=test_set,
        srs_path=srs_path,
        onnx=onnx,
        batch_bundle=batch.bundle,
        batch_commitment=batch_commitment,
        batch_proof=batch.proof,
        documents=documents,
    )


def _npz_of(array: np.ndarray) -> bytes:
    """An .npz archive (a zip): what numpy.load opens when .npy bytes were expected."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("arr_0.npy", _npy(array))
    return buffer.getvalue()


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
