"""The content-addressed artifact store, on a real directory."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from zkgate.prover.artifacts.store import (
    CHUNK_BYTES,
    ArtifactCorrupt,
    ArtifactNotFound,
    ArtifactStore,
)

DATA = b"proving key bytes \x00\x01\x02" * 1000
DIGEST = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


def test_round_trip_and_layout(store: ArtifactStore, tmp_path: Path) -> None:
    assert not store.exists(DIGEST)
    assert store.put_bytes(DATA) == DIGEST
    assert store.exists(DIGEST)
    assert store.read_bytes(DIGEST) == DATA
    assert store.size(DIGEST) == len(DATA)
    assert store.path(DIGEST) == tmp_path / "artifacts" / "sha256" / DIGEST[:2] / DIGEST[2:]
    assert list((tmp_path / "artifacts" / "tmp").iterdir()) == []


def test_put_is_idempotent_and_heals_a_damaged_copy(store: ArtifactStore) -> None:
    store.put_bytes(DATA)
    store.path(DIGEST).write_bytes(b"damaged")
    assert store.put_bytes(DATA) == DIGEST
    assert store.read_bytes(DIGEST) == DATA
    assert store.put_bytes(b"") == hashlib.sha256(b"").hexdigest()


def test_corruption_is_detected(store: ArtifactStore) -> None:
    store.put_bytes(DATA)
    damaged = bytearray(DATA)
    damaged[100] ^= 1
    store.path(DIGEST).write_bytes(bytes(damaged))
    with pytest.raises(ArtifactCorrupt, match=DIGEST):
        store.read_bytes(DIGEST)
    with pytest.raises(ArtifactCorrupt), store.local_file(DIGEST):
        pass


def test_missing_artifact(store: ArtifactStore) -> None:
    for read in (store.read_bytes, store.path, store.size):
        with pytest.raises(ArtifactNotFound):
            read(DIGEST)


@pytest.mark.parametrize(
    "bad",
    [
        DIGEST.upper(),
        DIGEST[:-1],
        DIGEST + "0",
        "../" + DIGEST[3:],
        "/etc/passwd",
        "",
        "g" * 64,
        DIGEST[:63] + "\n",
    ],
)
def test_bad_digests_are_rejected(store: ArtifactStore, bad: str) -> None:
    for call in (store.read_bytes, store.path, store.exists, store.size):
        with pytest.raises(ValueError, match="SHA-256"):
            call(bad)


def test_put_file_copies(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "network.onnx"
    content = DATA * (CHUNK_BYTES * 5 // 2 // len(DATA))  # spans several read chunks
    source.write_bytes(content)
    digest = store.put_file(source)
    assert digest == hashlib.sha256(content).hexdigest()
    assert source.read_bytes() == content
    assert store.read_bytes(digest) == content


def test_put_file_moves(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "pk.key"
    source.write_bytes(DATA)
    assert store.put_file(source, move=True) == DIGEST
    assert not source.exists()
    assert store.read_bytes(DIGEST) == DATA
