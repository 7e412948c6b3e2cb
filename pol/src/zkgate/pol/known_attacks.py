"""The known attacks on proof-of-learning from the papers (Zhang et al. 2022, Fang et al. 2023),
built for real for the tests and the benchmark.

The tests show the verifier rejects each of these, and that a verifier without the hardening
(the original paper's) accepts the spoofs; the benchmark measures the distance between honest
replay noise and what each attack leaves behind. An attacker here holds the owner key it signs
with: the point is what the evidence shows, not a stolen key.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.attestations import TrainingIntent
from zkgate.core.canonical import sha256_hex
from zkgate.core.learning.manifest import CheckpointEntry, Manifest
from zkgate.core.learning.policy import TrainingPolicy
from zkgate.pol import proof_files
from zkgate.pol.architecture import build_model, initial_model
from zkgate.pol.checkpoints import TrainingState, chain_link, decode, encode
from zkgate.pol.dataset import Dataset
from zkgate.pol.recorder import ProofWriter
from zkgate.pol.training import TrainingRun, deterministic

Params = dict[str, torch.Tensor]


def resign(proof_dir: Path, owner: Ed25519PrivateKey, policy: TrainingPolicy | None = None) -> None:
    """Re-hashes every checkpoint, relinks the chain and re-signs the manifest: the consistent
    rewrite a forger with the owner key can always make, so hashes and signatures alone prove
    nothing about the content."""
    manifest = Manifest.from_json((proof_dir / proof_files.MANIFEST).read_bytes())
    chain = manifest.intent.digest()
    entries = []
    for entry in manifest.checkpoints:
        digest = sha256_hex((proof_dir / entry.file).read_bytes())
        chain = chain_link(chain, entry.step, digest)
        entries.append(
            CheckpointEntry(step=entry.step, file=entry.file, sha256=digest, chain=chain)
        )
    rewritten = replace(
        manifest,
        policy=policy or manifest.policy,
        checkpoints=tuple(entries),
        onnx_sha256=sha256_hex((proof_dir / proof_files.MODEL).read_bytes()),
    ).signed_by(owner)
    (proof_dir / proof_files.MANIFEST).write_text(rewritten.to_json())


def _checkpoint(proof_dir: Path, index: int) -> tuple[Path, TrainingState]:
    manifest = Manifest.from_json((proof_dir / proof_files.MANIFEST).read_bytes())
    entry = manifest.checkpoints[index]
    path = proof_dir / entry.file
    return path, decode(path.read_bytes(), expected_step=entry.step, what=entry.file)


def tamper_checkpoint(
    proof_dir: Path, owner: Ed25519PrivateKey, index: int, scale: float = 0.01
) -> None:
    """Nudges one checkpoint's weights, then rewrites everything consistently."""
    path, state = _checkpoint(proof_dir, index)
    generator = torch.Generator().manual_seed(index)
    params = {
        name: tensor + scale * torch.randn(tensor.shape, generator=generator)
        for name, tensor in state.params.items()
    }
    path.write_bytes(encode(replace(state, params=params)))
    resign(proof_dir, owner)


class _Payload:
    """Unpickling this creates a file: the stand-in for arbitrary code in a pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def plant_pickle(proof_dir: Path, owner: Ed25519PrivateKey, index: int, marker: Path) -> None:
    """Replaces a checkpoint with a pickle that would create `marker` if anyone loaded it."""
    path, _ = _checkpoint(proof_dir, index)
    path.write_bytes(pickle.dumps(_Payload(marker)))
    resign(proof_dir, owner)


def swap_model(proof_dir: Path, owner: Ed25519PrivateKey, onnx: bytes) -> None:
    (proof_dir / proof_files.MODEL).write_bytes(onnx)
    resign(proof_dir, owner)


def claim_policy(proof_dir: Path, owner: Ed25519PrivateKey, policy: TrainingPolicy) -> None:
    """Puts another policy in the manifest (a tiny learning rate, say) under the same intent."""
    resign(proof_dir, owner, policy)


def write_proof(
    out_dir: Path,
    *,
    intent: TrainingIntent,
    policy: TrainingPolicy,
    dataset: Dataset,
    states: list[TrainingState],
    owner: Ed25519PrivateKey,
) -> Manifest:
    """A proof from states an attacker made up: the same writer the recorder uses, so only the
    content differs from an honest proof."""
    writer = ProofWriter(out_dir, intent, policy, dataset)
    for state in states:
        writer.add(state)
    model = build_model(policy.architecture)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            parameter.copy_(states[-1].params[name])
    manifest = writer.finish(model, owner)
    writer.save_timestamps()
    return manifest


def train_states(
    run: TrainingRun, policy: TrainingPolicy, threads: int | None = None
) -> list[TrainingState]:
    """All checkpoint states of `run` trained from its start, in memory."""
    states = []
    with deterministic(threads or policy.threads):
        run.start()
        for step in policy.checkpoint_steps():
            run.advance(step)
            states.append(run.state())
    return states


class ReorderedRun(TrainingRun):
    """Trains on the right examples in the wrong order: each pair of batches swapped."""

    def batch_indices(self, step: int) -> npt.NDArray[np.int64]:
        return super().batch_indices(step ^ 1 if (step ^ 1) < self.policy.total_steps else step)


def infinitesimal_policy(
    policy: TrainingPolicy, *, lr: float = 1e-7, epochs: int = 16
) -> TrainingPolicy:
    """The policy the interpolation spoof claims against a verifier that takes hyperparameters
    from the proof: a learning rate so small that replay barely moves, and a checkpoint after
    every step, over enough epochs that each made-up step fits under a fixed tolerance."""
    return replace(
        policy,
        optimizer=replace(policy.optimizer, lr=lr),
        checkpoint_interval=1,
        epochs=epochs,
    )


def rank_matched_init(stolen: Params, policy: TrainingPolicy, seed: bytes) -> Params:
    """Fang et al.'s fake initial state: the values of a genuine init(seed), rearranged to follow
    the ranks of the stolen weights. It has exactly the initial distribution (a KS test cannot
    tell), but already sits near the stolen model."""
    fresh = dict(initial_model(policy.architecture, seed).named_parameters())
    fake = {}
    for name, target in stolen.items():
        values = torch.sort(fresh[name].detach().reshape(-1)).values
        ranked = torch.empty_like(values)
        ranked[torch.argsort(target.reshape(-1))] = values
        fake[name] = ranked.reshape(target.shape)
    return fake


def interpolation_states(start: Params, stolen: Params, steps: list[int]) -> list[TrainingState]:
    """Checkpoints on the straight line from `start` to the stolen weights, ending on them
    exactly, with zero momentum: the "infinitesimal update" spoof."""
    states = []
    last = len(steps) - 1
    for index, step in enumerate(steps):
        fraction = index / last
        params = {
            name: stolen[name].clone()
            if index == last
            else start[name] + fraction * (stolen[name] - start[name])
            for name in stolen
        }
        optimizer = (
            {}
            if index == 0
            else {f"{n}/momentum_buffer": torch.zeros_like(t) for n, t in params.items()}
        )
        states.append(TrainingState(step=step, params=params, buffers={}, optimizer=optimizer))
    return states


def blindfold_states(
    run: TrainingRun, policy: TrainingPolicy, stolen: Params, *, boost: float = 0.6
) -> list[TrainingState]:
    """Fang et al.'s blindfold top-Q spoof, against a verifier that replays only the largest
    update per epoch. W0 is the genuine init(seed). In each epoch one segment is honest
    training, started from a planted momentum that carries it `boost` of the way to the stolen
    weights, so it is the epoch's largest update and replays exactly. Every other segment is a
    made-up step just above the policy's minimum update size; the last one lands on the stolen
    weights, and a final honest segment fine-tunes from there. Only a replay of a made-up step,
    which top-Q never picks, exposes it."""
    steps = policy.checkpoint_steps()
    segments = len(steps) - 1
    epoch_of = [steps[i] // policy.steps_per_epoch for i in range(segments)]
    honest = {i for i in range(segments) if i == 0 or epoch_of[i] != epoch_of[i - 1]}
    honest.add(segments - 1)
    momentum = policy.optimizer.momentum
    states: list[TrainingState] = []
    with deterministic(policy.threads):
        run.start()
        states.append(run.state())
        for index in range(segments):
            current = states[-1]
            if index in honest:
                run.load(current)
                run.advance(steps[index + 1])
                states.append(run.state())
                continue
            if index == segments - 2:
                params = {name: tensor.clone() for name, tensor in stolen.items()}
                planted = {name: torch.zeros_like(t) for name, t in params.items()}
            else:
                # Just above the policy's minimum update, so the size check passes too. Near the
                # target it steps away instead, so the landing step is never too small either.
                stride = 2 * policy.thresholds.min_update_l2
                gap = {name: stolen[name] - current.params[name] for name in stolen}
                remaining = distance(gap, {n: torch.zeros_like(t) for n, t in gap.items()})
                toward = 1.0 if remaining >= 2 * stride else -1.0
                scale = toward * stride / max(remaining, 1e-12)
                params = {name: current.params[name] + scale * gap[name] for name in stolen}
                planted = {name: torch.zeros_like(t) for name, t in params.items()}
                if index + 1 in honest:
                    # SGD with momentum moves -lr * sum(mu^t) * m over k steps from buffer m.
                    k = steps[index + 2] - steps[index + 1]
                    carry = policy.learning_rate(steps[index + 1]) * sum(
                        momentum**t for t in range(1, k + 1)
                    )
                    planted = {
                        name: -boost * (stolen[name] - params[name]) / carry for name in params
                    }
            states.append(
                TrainingState(
                    step=steps[index + 1],
                    params=params,
                    buffers={},
                    optimizer={f"{name}/momentum_buffer": t for name, t in planted.items()},
                )
            )
    return states


def distance(left: Params, right: Params) -> float:
    return math.sqrt(sum(float((left[n] - right[n]).double().norm()) ** 2 for n in left))
