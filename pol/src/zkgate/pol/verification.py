"""The proof-of-learning verifier: structural checks, then replay of chosen segments.

Structural checks are cheap and exact: signatures, the policy the intent registered, dataset
root, checkpoint steps and chain, W0 = init(seed), the final checkpoint against the ONNX, and a
minimum update size. Replay is the expensive, statistical part: the first and last segments, the
top-Q largest updates per epoch, and segments drawn with the verifier's own randomness, which is
chosen after the owner committed, so a spoofer cannot know in advance which steps must be honest.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import asdict
from pathlib import Path

import torch

from zkgate.core.attestations import AttestationError, CommitmentTimestamp
from zkgate.core.canonical import canonical_json, sha256_hex
from zkgate.core.documents import DocumentError, parse_json, quote
from zkgate.core.learning.admission import MINIMUM_REPLAY, admission_problems, stronger_plan
from zkgate.core.learning.archive import ArchiveError, extract_archive
from zkgate.core.learning.layout import (
    MAX_MANIFEST_BYTES,
    MAX_PARAMETERS,
    LayoutError,
    ProofShape,
)
from zkgate.core.learning.manifest import Manifest, ManifestError
from zkgate.core.learning.policy import PolicyError, ReplayPlan, TrainingPolicy, differences
from zkgate.pol import proof_files
from zkgate.pol.architecture import initial_model
from zkgate.pol.ceilings import NOISE_SEGMENTS, effective, measure_noise, threshold_problems
from zkgate.pol.checkpoints import (
    CheckpointError,
    StateLayout,
    TrainingState,
    capture,
    chain_link,
    check_layout,
    decode,
    state_layout,
)
from zkgate.pol.dataset import Dataset, DatasetError
from zkgate.pol.onnx_binding import binding_problems, probes
from zkgate.pol.randomness import HashStream
from zkgate.pol.replay import measure, replay, update_size
from zkgate.pol.report import LearningReport, SegmentReport
from zkgate.pol.training import TrainingRun, deterministic, make_optimizer

_SEGMENT_DOMAIN = "zkgate.pol.replay/1"
_PROBE_EXAMPLES = 16
# Policies come from the trainer; one claiming a run of 10^7 epochs must not make the verifier
# replay anything of that size before saying no. The replay plan is bounded before any replay:
# in training steps (each costs a fixed overhead, about 0.3 ms for a small MLP), and in
# example-parameter products (the arithmetic of a step is about 6 per example and parameter;
# 10^12 is a few minutes on 2 cores). A registration the gateway accepts, an MLP of up to
# MAX_PARAMETERS trained for tens of epochs, needs far less (the digits example: 144 steps,
# 6 * 10^6 products).
MAX_REPLAYED_STEPS = 100_000
MAX_REPLAY_WORK = 10**12
# Drawing an epoch's data order is a Python loop over the examples.
MAX_ORDER_DRAWS = 50_000_000


class CheckpointReader:
    """Reads checkpoint i on demand and re-checks its hash and tensors on every read, so a file
    swapped between the structural pass and the replay is still caught."""

    def __init__(
        self, proof_dir: Path, manifest: Manifest, layout: StateLayout | None = None
    ) -> None:
        """`layout`: the tensors each checkpoint must hold (default: what the manifest's own
        policy implies)."""
        self._dir = proof_dir
        self._entries = manifest.checkpoints
        policy = manifest.policy
        self._layout = layout or state_layout(policy.architecture, policy.optimizer)

    def __len__(self) -> int:
        return len(self._entries)

    def load(self, index: int) -> TrainingState:
        entry = self._entries[index]
        what = f"checkpoint {index} (step {entry.step})"
        if entry.file != proof_files.checkpoint_file(index):
            raise CheckpointError(f"{what} is named {quote(entry.file)}, not the standard name")
        try:
            data = (self._dir / entry.file).read_bytes()
        except OSError as exc:
            raise CheckpointError(f"{what} cannot be read: {exc.strerror or exc}") from exc
        if sha256_hex(data) != entry.sha256:
            raise CheckpointError(f"{what} does not hash to the manifest's digest")
        state = decode(data, expected_step=entry.step, what=what)
        check_layout(state, self._layout, what)
        return state

    def states(self) -> Iterator[TrainingState]:
        for index in range(len(self)):
            yield self.load(index)


def verify_archive(
    archive: bytes,
    *,
    onnx: bytes,
    trusted_issuers: Collection[str],
    verifier_nonce: bytes,
    scratch: Path,
    registered_policy: TrainingPolicy | None = None,
    minimum_replay: ReplayPlan = MINIMUM_REPLAY,
) -> LearningReport:
    """The gateway's entry point: unpack, then `verify_proof` against the registered ONNX and
    the policy the gateway kept when it signed the intent. The ONNX holds every parameter as a
    float32 initializer, so a proof claiming more parameters than fit in it is refused before
    it is unpacked."""
    try:
        proof_dir = extract_archive(
            archive,
            scratch / "proof-of-learning",
            max_parameters=min(MAX_PARAMETERS, len(onnx) // 4),
        )
    except ArchiveError as exc:
        report = LearningReport(verifier_nonce=verifier_nonce.hex())
        report.cannot_verify(f"proof-of-learning archive refused: {exc}")
        return report
    return verify_proof(
        proof_dir,
        trusted_issuers=trusted_issuers,
        verifier_nonce=verifier_nonce,
        onnx=onnx,
        registered_policy=registered_policy,
        minimum_replay=minimum_replay,
    )


def verify_proof(
    proof_dir: Path,
    *,
    trusted_issuers: Collection[str],
    verifier_nonce: bytes,
    onnx: bytes | None = None,
    registered_policy: TrainingPolicy | None = None,
    threads: int | None = None,
    minimum_replay: ReplayPlan = MINIMUM_REPLAY,
) -> LearningReport:
    """`trusted_issuers`: gateway keys (hex) whose intents and timestamps are believed.
    `onnx`: the served model the proof must be about (default: the proof's own model.onnx).
    `registered_policy`: the policy the verifier knows was registered (default: the one the
    intent pins by digest). `threads`: replay thread count (default: the policy's).
    `minimum_replay`: the least this verifier replays, whatever the policy's plan; raise it
    where the stakes call for it (each random segment is one segment of replay).

    Never raises: whatever the proof holds, the answer is a report, and a failure of the
    verifier itself is reported as such (`unverifiable`), never as a rejection."""
    report = LearningReport(verifier_nonce=verifier_nonce.hex(), torch_version=torch.__version__)
    try:
        _verify(
            proof_dir,
            report,
            set(trusted_issuers),
            verifier_nonce,
            onnx,
            registered_policy,
            threads,
            minimum_replay,
        )
    except Exception as exc:  # the verifier answers with a reason, whatever the proof holds
        report.cannot_verify(
            f"the verifier failed on this proof ({type(exc).__name__}: {quote(str(exc), 200)})"
        )
    report.accepted = not report.reasons
    return report


def _verify(
    proof_dir: Path,
    report: LearningReport,
    trusted: set[str],
    verifier_nonce: bytes,
    onnx: bytes | None,
    registered_policy: TrainingPolicy | None,
    threads: int | None,
    minimum_replay: ReplayPlan,
) -> None:
    started = time.perf_counter()
    try:
        manifest = Manifest.from_json(_read_manifest(proof_dir))
    except (OSError, ManifestError, AttestationError, PolicyError) as exc:
        report.cannot_verify(f"manifest unreadable: {exc}")
        return
    policy = registered_policy or manifest.policy
    report.threads = threads or policy.threads
    report.manifest_digest = manifest.digest()
    report.owner_public_key = manifest.owner_public_key
    report.intent_issuer_public_key = manifest.intent.issuer_public_key
    report.intent_issued_at_ms = manifest.intent.issued_at_ms
    report.policy_digest = manifest.policy.digest()
    report.thresholds = asdict(policy.thresholds)
    report.total_steps = policy.total_steps
    report.segments_total = max(len(manifest.checkpoints) - 1, 0)
    report.chain_head = manifest.chain_head if manifest.checkpoints else ""
    plan = stronger_plan(policy.replay, stronger_plan(minimum_replay, MINIMUM_REPLAY))
    refusals = workload_problems(policy, plan)
    refusals += layout_problems(proof_dir, policy, len(manifest.checkpoints))
    for refusal in refusals:
        report.cannot_verify(refusal)
    if refusals:
        return

    checker = _StructuralChecks(proof_dir, manifest, policy, report)
    checker.signatures(trusted)
    checker.policy(registered_policy)
    dataset = checker.dataset()
    checker.model(onnx)
    reader = CheckpointReader(
        proof_dir, manifest, state_layout(policy.architecture, policy.optimizer)
    )
    sizes = checker.checkpoints(reader, dataset)
    checker.timestamps(trusted)
    report.seconds["structural"] = time.perf_counter() - started
    if sizes is not None and dataset is not None:
        replay_started = time.perf_counter()
        chosen = choose_segments(policy, plan, sizes, verifier_nonce, report.manifest_digest)
        _replay_segments(reader, manifest, policy, dataset, chosen, report)
        report.seconds["replay"] = time.perf_counter() - replay_started


def _read_manifest(proof_dir: Path) -> bytes:
    """The manifest alone is read before its claims bound the other files; its own cap is
    fixed (the document layer refuses more)."""
    with (proof_dir / proof_files.MANIFEST).open("rb") as source:
        return source.read(MAX_MANIFEST_BYTES + 1)


def workload_problems(policy: TrainingPolicy, plan: ReplayPlan) -> list[str]:
    """What replaying this policy would cost, bounded before anything is built: the claimed
    network and run, the replay plan's steps and arithmetic, and the data-order draws."""
    shape = ProofShape(
        sizes=policy.architecture.sizes,
        optimizer=policy.optimizer.kind,
        dataset_size=policy.dataset_size,
        checkpoint_count=policy.checkpoint_count,
    )
    problems = shape.problems()
    if problems:
        return problems
    segments = policy.checkpoint_count - 1
    replayed = min(segments, 2 + min(policy.epochs, segments) * plan.top_q + plan.random_segments)
    steps = replayed * policy.checkpoint_interval
    work = steps * policy.batch_size * shape.parameters
    if steps > MAX_REPLAYED_STEPS:
        problems.append(
            f"the replay plan covers up to {steps:,} training steps ({replayed} segments of "
            f"{policy.checkpoint_interval:,}); this verifier replays at most {MAX_REPLAYED_STEPS:,}"
        )
    elif work > MAX_REPLAY_WORK:
        problems.append(
            f"the replay plan costs up to {work:.3g} example-parameter products; this verifier "
            f"replays at most {MAX_REPLAY_WORK:.3g}"
        )
    if replayed * policy.dataset_size > MAX_ORDER_DRAWS:
        problems.append(
            f"the replay plan draws {replayed * policy.dataset_size:,} data-order positions; "
            f"the limit is {MAX_ORDER_DRAWS:,}"
        )
    return problems


def layout_problems(proof_dir: Path, policy: TrainingPolicy, checkpoints: int) -> list[str]:
    """Every file in the proof directory is one the manifest implies, within its budget: an
    archive was already held to this while it was unpacked, a directory is held to it here."""
    shape = ProofShape(
        sizes=policy.architecture.sizes,
        optimizer=policy.optimizer.kind,
        dataset_size=policy.dataset_size,
        checkpoint_count=checkpoints,
    )
    problems = []
    for path in sorted(proof_dir.rglob("*")):
        name = path.relative_to(proof_dir).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            problems.append(f"{quote(name)} is not a regular file")
        elif path.is_file():
            try:
                shape.check_file(name, path.stat().st_size)
            except LayoutError as exc:
                problems.append(str(exc))
        if len(problems) >= 3:
            break
    return problems


def choose_segments(
    policy: TrainingPolicy,
    plan: ReplayPlan,
    sizes: list[float],
    nonce: bytes,
    manifest_digest: str,
) -> dict[int, list[str]]:
    """Segment index -> why it is replayed. Random picks come from segments not already
    chosen, so each adds coverage."""
    count = len(sizes)
    chosen: dict[int, list[str]] = defaultdict(list)
    if not count:
        return chosen
    chosen[0].append("first")
    chosen[count - 1].append("last")
    steps = policy.checkpoint_steps()
    by_epoch: dict[int, list[int]] = defaultdict(list)
    for index in range(count):
        by_epoch[steps[index] // policy.steps_per_epoch].append(index)
    for members in by_epoch.values():
        for index in sorted(members, key=lambda i: -sizes[i])[: plan.top_q]:
            chosen[index].append("top-q")
    stream = HashStream(_SEGMENT_DOMAIN, nonce + bytes.fromhex(manifest_digest))
    remaining = [index for index in range(count) if index not in chosen]
    for index in stream.sample(remaining, plan.random_segments):
        chosen[index].append("random")
    return dict(sorted(chosen.items()))


class _StructuralChecks:
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
                f"the proof has {len(found)} checkpoints at steps {_preview(found)}; the policy "
                f"makes {len(expected)} at steps {_preview(expected)}"
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


def _replay_segments(
    reader: CheckpointReader,
    manifest: Manifest,
    policy: TrainingPolicy,
    dataset: Dataset,
    chosen: dict[int, list[str]],
    report: LearningReport,
) -> None:
    run = TrainingRun(policy, dataset, manifest.intent.seed())
    own = measure_noise(run, reader.load, list(chosen)[:NOISE_SEGMENTS], report.threads)
    report.measured_noise = own.noise
    report.ceilings = asdict(own.ceilings())
    for problem in threshold_problems(policy.thresholds, policy.calibration, own):
        report.reject(problem)
    limits = effective(policy.thresholds, own)
    failed: dict[str, list[int]] = defaultdict(list)
    with deterministic(report.threads):
        for index, origins in chosen.items():
            start, logged = reader.load(index), reader.load(index + 1)
            replayed = replay(run, start, logged.step)
            gap = measure(start, logged, replayed)
            failures = gap.failures(limits)
            report.segments.append(
                SegmentReport(
                    index=index,
                    start_step=start.step,
                    end_step=logged.step,
                    epoch=start.step // policy.steps_per_epoch,
                    origins=origins,
                    logged_update_l2=update_size(start, logged),
                    l1=_finite(gap.l1),
                    l2=_finite(gap.l2),
                    linf=_finite(gap.linf),
                    cosine=_finite(gap.cosine),
                    update_ratio=_finite(gap.update_ratio),
                    state_linf=_finite(gap.state_linf),
                    passed=not failures,
                    failures=failures,
                )
            )
            report.replayed_steps += logged.step - start.step
            if failures:
                for origin in origins:
                    failed[origin].append(index)
    for origin, indices in failed.items():
        report.reject(
            f"replay of {len(indices)} {origin} segment(s) ({_preview(indices)}) does not "
            "reproduce the logged checkpoints within the thresholds (the policy's, none "
            "looser than the verifier's own ceilings)"
        )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _preview(values: list[int]) -> str:
    shown = ", ".join(str(v) for v in values[:6])
    return shown + (", ..." if len(values) > 6 else "")
