"""The verifier's structural checks: cheap and exact, done before any replay.

Signatures, the policy the intent registered (and its admission), the dataset root, checkpoint
steps and chain, W0 = init(seed), a minimum update size, the final checkpoint against the ONNX,
and the timestamps. Each failure is a rejection with its own reason; the replay that follows
needs the dataset and the logged update sizes this pass returns.
"""

from __future__ import annotations

from pathlib import Path

import torch

from zkgate.core.attestations import AttestationError, CommitmentTimestamp
from zkgate.core.canonical import canonical_json, sha256_hex
from zkgate.core.documents import DocumentError, parse_json
from zkgate.core.learning.admission import admission_problems
from zkgate.core.learning.manifest import Manifest, ManifestError
from zkgate.core.learning.policy import TrainingPolicy, differences
from zkgate.pol import proof_files
from zkgate.pol.architecture import initial_model
from zkgate.pol.checkpoint_reader import CheckpointReader
from zkgate.pol.checkpoints import CheckpointError, TrainingState, capture, chain_link
from zkgate.pol.dataset import Dataset, DatasetError
from zkgate.pol.onnx_binding import binding_problems, probes
from zkgate.pol.replay import update_size
from zkgate.pol.report import LearningReport, preview
from zkgate.pol.training import make_optimizer

_PROBE_EXAMPLES = 16


class StructuralChecks:
    """One proof checked against one policy; every finding goes into the report."""

    def __init__(
        self, proof_dir: Path, manifest: Manifest, policy: TrainingPolicy, report: LearningReport
    ) -> None:
        self._dir = proof_dir
        self._manifest = manifest
        self._policy = policy
        self._report = report

    def signatures(self, trusted: set[str]) -> None:
        manifest, report = self._manifest, self._report
        try:
            manifest.verify_signature()
        except ManifestError as exc:
            report.reject(str(exc))
        intent = manifest.intent
        try:
            intent.verify()
        except AttestationError as exc:
            report.reject(f"training intent: {exc}")
        if intent.issuer_public_key in trusted:
            return
        if intent.self_issued:
            report.notes.append(
                "self-issued training intent: its nonce and time are the owner's own claims, "
                "so only gateway timestamps place this run in time"
            )
        else:
            report.reject(
                f"training intent issued by {intent.issuer_public_key}, which is neither a "
                "trusted gateway nor the owner"
            )

    def policy(self, registered: TrainingPolicy | None) -> None:
        manifest, report = self._manifest, self._report
        if manifest.policy.digest() != manifest.intent.policy_digest:
            report.reject(
                "the proof's training policy is not the one its training intent registered "
                f"(digest {manifest.policy.digest()}, intent {manifest.intent.policy_digest})"
            )
        if registered is not None and registered != manifest.policy:
            report.reject(
                "the proof's training policy differs from the registered one: "
                + "; ".join(differences(manifest.policy, registered))
            )
        for problem in admission_problems(self._policy):
            report.reject(problem)
        recorded = manifest.policy.versions.get("torch")
        if recorded and recorded != torch.__version__:
            report.notes.append(
                f"recorded with torch {recorded}, replayed with {torch.__version__}: replay noise "
                "may exceed what calibration measured"
            )

    def dataset(self) -> Dataset | None:
        manifest, policy, report = self._manifest, self._policy, self._report
        try:
            dataset = Dataset.load(self._dir / proof_files.DATASET)
        except DatasetError as exc:
            report.reject(f"dataset: {exc}")
            return None
        root = dataset.root()
        if root != policy.dataset_root or root != manifest.dataset_root:
            report.reject(
                f"dataset root {root} is not the committed root {policy.dataset_root}: an "
                "example was added, removed, changed or moved"
            )
            return None
        if len(dataset) != policy.dataset_size:
            report.reject(
                f"dataset has {len(dataset)} examples; the policy says {policy.dataset_size}"
            )
            return None
        sizes = policy.architecture.sizes
        if dataset.features.shape[1:] != (sizes[0],):
            report.reject(
                f"dataset examples have shape {dataset.features.shape[1:]}; the architecture "
                f"takes ({sizes[0]},)"
            )
            return None
        if dataset.labels.min() < 0 or dataset.labels.max() >= sizes[-1]:
            report.reject(f"dataset labels fall outside the architecture's {sizes[-1]} classes")
            return None
        return dataset

    def model(self, served: bytes | None) -> None:
        try:
            proof_onnx = (self._dir / proof_files.MODEL).read_bytes()
        except OSError as exc:
            self._report.reject(f"model.onnx cannot be read: {exc}")
            return
        if sha256_hex(proof_onnx) != self._manifest.onnx_sha256:
            self._report.reject("model.onnx does not hash to the manifest's onnx_sha256")
        if served is not None and sha256_hex(served) != sha256_hex(proof_onnx):
            self._report.reject(
                "the proof is about another ONNX file than the model being checked "
                f"(proof {sha256_hex(proof_onnx)}, model {sha256_hex(served)})"
            )

    def checkpoints(self, reader: CheckpointReader, dataset: Dataset | None) -> list[float] | None:
        """Checks counts, chain, W0, minimum updates and the ONNX binding in one pass; returns
        each segment's logged update size, or None when the checkpoints cannot be used."""
        manifest, policy, report = self._manifest, self._policy, self._report
        if policy.checkpoint_count != len(manifest.checkpoints):
            report.reject(
                f"the proof has {len(manifest.checkpoints)} checkpoints; the policy makes "
                f"{policy.checkpoint_count}"
            )
            return None
        expected = policy.checkpoint_steps()
        found = [entry.step for entry in manifest.checkpoints]
        if found != expected:
            report.reject(
                f"the proof has {len(found)} checkpoints at steps {preview(found)}; the policy "
                f"makes {len(expected)} at steps {preview(expected)}"
            )
            return None
        chain = manifest.intent.digest()
        for index, entry in enumerate(manifest.checkpoints):
            chain = chain_link(chain, entry.step, entry.sha256)
            if chain != entry.chain:
                report.reject(f"hash chain breaks at checkpoint {index} (step {entry.step})")
                return None
        sizes: list[float] = []
        previous: TrainingState | None = None
        try:
            for state in reader.states():
                if previous is None:
                    self._initial_state(state)
                else:
                    sizes.append(update_size(previous, state))
                previous = state
        except CheckpointError as exc:
            report.reject(str(exc))
            return None
        assert previous is not None  # the policy always makes at least two checkpoints
        self._minimum_updates(sizes)
        self._binding(previous, dataset)
        return sizes

    def _initial_state(self, state: TrainingState) -> None:
        intent, policy = self._manifest.intent, self._policy
        model = initial_model(policy.architecture, intent.seed())
        fresh = capture(model, make_optimizer(policy, model), 0)
        if state.params.keys() != fresh.params.keys() or any(
            not torch.equal(state.params[name], fresh.params[name]) for name in fresh.params
        ):
            self._report.reject(
                "checkpoint 0 is not init(seed): the initial weights were not drawn from the "
                "training intent's seed"
            )
        if state.optimizer or state.buffers.keys() != fresh.buffers.keys():
            self._report.reject("checkpoint 0 carries optimizer state; a run starts without any")

    def _minimum_updates(self, sizes: list[float]) -> None:
        floor = self._policy.thresholds.min_update_l2
        small = [size for size in sizes if not size >= floor]
        if small:
            self._report.reject(
                f"{len(small)} of {len(sizes)} segments move the weights less than the policy's "
                f"minimum update {floor:.3g} (smallest {min(small):.3g}): honest training at this "
                "learning rate does not take steps that small"
            )

    def _binding(self, final: TrainingState, dataset: Dataset | None) -> None:
        if dataset is None:
            return
        try:
            onnx_bytes = (self._dir / proof_files.MODEL).read_bytes()
        except OSError:
            return  # already reported by model()
        model = initial_model(self._policy.architecture, b"\x00" * 32)
        try:
            model.load_state_dict({**final.params, **final.buffers})
        except (RuntimeError, KeyError) as exc:
            self._report.reject(f"final checkpoint does not fit the architecture: {exc}")
            return
        # The verifier's own randomness, as for the replay sample: the prover cannot aim a gate
        # in the graph at probes it cannot know.
        key = bytes.fromhex(self._report.verifier_nonce + self._report.manifest_digest)
        probe = probes(dataset.features, key, _PROBE_EXAMPLES)
        sizes = self._policy.architecture.sizes
        for problem in binding_problems(onnx_bytes, sizes, final.params, model, probe):
            self._report.reject(f"final checkpoint vs model.onnx: {problem}")

    def timestamps(self, trusted: set[str]) -> None:
        manifest, report = self._manifest, self._report
        path = self._dir / proof_files.TIMESTAMPS
        if not path.exists():
            return
        try:
            raw = parse_json(path.read_bytes(), what=proof_files.TIMESTAMPS)
            if not isinstance(raw, list):
                raise DocumentError(f"{proof_files.TIMESTAMPS} must be a list of statements")
        except (OSError, DocumentError) as exc:
            report.reject(f"timestamps.json unreadable: {exc}")
            return
        commitments = {entry.chain for entry in manifest.checkpoints} | {report.manifest_digest}
        valid: list[CommitmentTimestamp] = []
        for index, item in enumerate(raw):
            what = f"timestamp {index}"
            try:
                stamp = CommitmentTimestamp.from_json(canonical_json(item))
                stamp.verify()
            except AttestationError as exc:
                report.reject(f"{what} is forged or corrupt: {exc}")
                continue
            if stamp.issuer_public_key not in trusted:
                report.reject(
                    f"{what} is signed by {stamp.issuer_public_key}, not a trusted gateway"
                )
            elif stamp.owner_public_key != manifest.owner_public_key:
                report.reject(f"{what} was issued to another owner")
            elif stamp.commitment not in commitments:
                report.reject(f"{what} covers a commitment that is not in this proof")
            else:
                valid.append(stamp)
        if valid:
            earliest = min(valid, key=lambda s: s.issued_at_ms)
            report.earliest_timestamp_ms = earliest.issued_at_ms
            report.earliest_timestamp = parse_json(earliest.to_json(), what="timestamp")
        final = {report.chain_head: "the chain head", report.manifest_digest: "the manifest"}
        covering = [stamp for stamp in valid if stamp.commitment in final]
        if covering:
            first = min(covering, key=lambda s: s.issued_at_ms)
            report.precedence_timestamp_ms = first.issued_at_ms
            report.precedence_timestamp = parse_json(first.to_json(), what="timestamp")
            report.precedence_commitment = final[first.commitment]
