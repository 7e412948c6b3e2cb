"""The recorder's building blocks: what the verifier later relies on being exact."""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import pytest
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zkgate.core.learning.archive import ArchiveError, build_archive, check_archive
from zkgate.core.merkle import inclusion_proof, leaf_hash, verify_inclusion
from zkgate.pol.architecture import initial_model
from zkgate.pol.bundled_example_policy import digits_policy
from zkgate.pol.checkpoints import CheckpointError, decode, encode
from zkgate.pol.dataset import Dataset
from zkgate.pol.randomness import HashStream, data_order
from zkgate.pol.recorder import RecordingError, record_training
from zkgate.pol.training import TrainingRun, deterministic


def test_data_order_is_a_seeded_permutation(pol_world):
    size = len(pol_world.dataset)
    first = data_order(b"a" * 32, 0, size)
    assert sorted(first.tolist()) == list(range(size))
    assert np.array_equal(first, data_order(b"a" * 32, 0, size))
    assert not np.array_equal(first, data_order(b"a" * 32, 1, size))
    assert not np.array_equal(first, data_order(b"b" * 32, 0, size))


def test_hash_stream_is_uniform_enough():
    stream = HashStream("test", b"k")
    counts = np.bincount([stream.below(10) for _ in range(20_000)], minlength=10)
    # 2,000 expected per bucket; 5 standard deviations is about 212.
    assert counts.min() > 1_780 and counts.max() < 2_220


def test_initial_weights_are_a_function_of_the_seed(pol_world):
    arch = pol_world.policy.architecture
    one = dict(initial_model(arch, b"s" * 32).named_parameters())
    again = dict(initial_model(arch, b"s" * 32).named_parameters())
    other = dict(initial_model(arch, b"t" * 32).named_parameters())
    for name, tensor in one.items():
        assert torch.equal(tensor, again[name])
        assert not torch.equal(tensor, other[name])
        bound = 1 / np.sqrt(arch.sizes[0] if name.startswith("0.") else arch.sizes[1])
        assert float(tensor.detach().abs().max()) <= bound


def test_dataset_root_commits_to_every_value_label_and_position(pol_world):
    dataset = pol_world.dataset
    root = dataset.root()
    features = dataset.features.copy()
    features[100, 10] += np.float32(1 / 16)
    assert Dataset(features, dataset.labels).root() != root
    labels = dataset.labels.copy()
    labels[100] = (labels[100] + 1) % 10
    assert Dataset(dataset.features, labels).root() != root
    swapped = dataset.features.copy()
    swapped[[3, 4]] = swapped[[4, 3]]
    swapped_labels = dataset.labels.copy()
    swapped_labels[[3, 4]] = swapped_labels[[4, 3]]
    assert Dataset(swapped, swapped_labels).root() != root


def test_dataset_membership_proofs(pol_world):
    leaves = pol_world.dataset.leaf_hashes()
    root = bytes.fromhex(pol_world.dataset.root())
    for index in (0, 1, 777, len(leaves) - 1):
        verify_inclusion(leaves[index], inclusion_proof(leaves, index), root)
    with pytest.raises(ValueError, match="does not lead"):
        verify_inclusion(leaf_hash(b"forged"), inclusion_proof(leaves, 5), root)


def test_checkpoint_roundtrip_keeps_optimizer_state(pol_world):
    run = TrainingRun(pol_world.policy, pol_world.dataset, b"c" * 32)
    with deterministic(1):
        run.start()
        run.advance(5)
    state = run.state()
    assert state.optimizer, "SGD with momentum keeps a buffer per parameter"
    loaded = decode(encode(state), expected_step=5, what="checkpoint")
    assert torch.equal(loaded.flat_params(), state.flat_params())
    for key, tensor in state.optimizer.items():
        assert torch.equal(loaded.optimizer[key], tensor)
    with pytest.raises(CheckpointError, match="step"):
        decode(encode(state), expected_step=6, what="checkpoint")


def test_replaying_a_segment_twice_gives_the_same_state(pol_world):
    """The aliasing trap: loading stored momentum without a copy makes the second replay of a
    segment start from a momentum the first replay already advanced."""
    run = TrainingRun(pol_world.policy, pol_world.dataset, b"d" * 32)
    with deterministic(1):
        run.start()
        run.advance(8)
        start = run.state()
        run.advance(16)
        first = run.state()
        run.load(start)
        run.advance(16)
        second = run.state()
    assert torch.equal(first.flat_params(), second.flat_params())
    assert all(torch.equal(first.optimizer[k], second.optimizer[k]) for k in first.optimizer)


@pytest.mark.parametrize("payload", [b"", b"\x00" * 7, b"garbage" * 20])
def test_non_safetensors_checkpoints_are_refused(payload):
    with pytest.raises(CheckpointError):
        decode(payload, expected_step=0, what="checkpoint 0")


def test_a_pickle_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with pytest.raises(CheckpointError, match="not a safetensors"):
        decode(pickle.dumps(Payload()), expected_step=0, what="checkpoint 0")
    assert not marker.exists()


def test_recorder_refuses_mismatched_ingredients(pol_world, tmp_path):
    owner, stranger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    intent = pol_world.intent(owner)
    common = {"policy": pol_world.policy, "dataset": pol_world.dataset, "out_dir": tmp_path}
    with pytest.raises(RecordingError, match="another owner"):
        record_training(intent=intent, owner=stranger, **common)
    other_policy = pol_world.intent(owner, digits_policy(pol_world.dataset, epochs=2))
    with pytest.raises(RecordingError, match="calibrat"):
        record_training(
            policy=digits_policy(pol_world.dataset, epochs=2),
            dataset=pol_world.dataset,
            intent=other_policy,
            owner=owner,
            out_dir=tmp_path,
        )
    with pytest.raises(RecordingError, match="another policy"):
        record_training(intent=other_policy, owner=owner, **common)


def test_archive_roundtrip_and_unsafe_archives(victim, tmp_path):
    data = build_archive(victim.proof_dir)
    assert data == build_archive(victim.proof_dir), "packing is deterministic"
    check_archive(data)
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("manifest.json", "{}")
        archive.writestr("../escape", "x")
    with pytest.raises(ArchiveError, match="plain relative path"):
        check_archive(evil.getvalue())
    with pytest.raises(ArchiveError, match="not a zip"):
        check_archive(b"PK\x03\x04 truncated")
