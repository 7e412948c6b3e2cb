"""The proof-of-learning verifier's entry points: structural checks, then replay of chosen segments.

Structural checks are cheap and exact (`structural_checks`); replay is the expensive, statistical
part (`segment_replay`). Before either, what the proof asks of the verifier is bounded
(`verification_bounds`), so a hostile claim costs a refusal, not a replay. The stages run in
that order here, and whatever the proof holds, the answer is a report.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import asdict
from pathlib import Path

import torch

from zkgate.core.attestations import AttestationError
from zkgate.core.documents import quote
from zkgate.core.learning.admission import MINIMUM_REPLAY, stronger_plan
from zkgate.core.learning.archive import ArchiveError, extract_archive
from zkgate.core.learning.layout import MAX_MANIFEST_BYTES, MAX_PARAMETERS
from zkgate.core.learning.manifest import Manifest, ManifestError
from zkgate.core.learning.policy import PolicyError, ReplayPlan, TrainingPolicy
from zkgate.pol import proof_files
from zkgate.pol.checkpoint_reader import CheckpointReader
from zkgate.pol.checkpoints import state_layout
from zkgate.pol.report import LearningReport
from zkgate.pol.segment_replay import choose_segments, replay_segments
from zkgate.pol.structural_checks import StructuralChecks
from zkgate.pol.verification_bounds import layout_problems, workload_problems


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
    _describe(report, manifest, policy)
    plan = stronger_plan(policy.replay, stronger_plan(minimum_replay, MINIMUM_REPLAY))
    refusals = workload_problems(policy, plan)
    refusals += layout_problems(proof_dir, policy, len(manifest.checkpoints))
    for refusal in refusals:
        report.cannot_verify(refusal)
    if refusals:
        return

    checker = StructuralChecks(proof_dir, manifest, policy, report)
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
        replay_segments(reader, manifest, policy, dataset, chosen, report)
        report.seconds["replay"] = time.perf_counter() - replay_started


def _describe(report: LearningReport, manifest: Manifest, policy: TrainingPolicy) -> None:
    """What the proof claims, in the report before any check: a rejected or unverified proof
    still says whose run it was and what it asked of the verifier."""
    report.manifest_digest = manifest.digest()
    report.owner_public_key = manifest.owner_public_key
    report.intent_issuer_public_key = manifest.intent.issuer_public_key
    report.intent_issued_at_ms = manifest.intent.issued_at_ms
    report.policy_digest = manifest.policy.digest()
    report.thresholds = asdict(policy.thresholds)
    report.total_steps = policy.total_steps
    report.segments_total = max(len(manifest.checkpoints) - 1, 0)
    report.chain_head = manifest.chain_head if manifest.checkpoints else ""


def _read_manifest(proof_dir: Path) -> bytes:
    """The manifest alone is read before its claims bound the other files; its own cap is
    fixed (the document layer refuses more)."""
    with (proof_dir / proof_files.MANIFEST).open("rb") as source:
        return source.read(MAX_MANIFEST_BYTES + 1)
