"""The artifact store behaves the same on every backend: the node's own directory, a shared
directory with a local key cache, and an S3 bucket (moto's server, over HTTP) with one.
Then the local cache on its own (budget, LRU, pins, verification), the settings, and the
preference of a prover for jobs whose keys it holds."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.gateway_fixtures import DIGITS, register, start_gateway
from tests.fixtures.s3_fixtures import S3_REGION, S3Server
from zkgate.client import verify
from zkgate.core.card import Fidelity, KeySizes, ModelCard, SrsInfo, TensorSpec, Visibility
from zkgate.gateway.config import load_config
from zkgate.prover.artifacts.backend import DirectoryBackend
from zkgate.prover.artifacts.local_cache import CacheAccess, LocalCache
from zkgate.prover.artifacts.s3_backend import S3Backend
from zkgate.prover.artifacts.store import ArtifactCorrupt, ArtifactNotFound, ArtifactStore
from zkgate.prover.artifacts.store_settings import (
    ArtifactSettings,
    S3Location,
    add_artifact_arguments,
    artifact_settings_from_args,
    open_artifact_store,
    open_key_cache,
    parse_artifact_store,
)
from zkgate.prover.queue.catalog import ModelCatalog, ProofPolicy
from zkgate.prover.queue.database import Database
from zkgate.prover.queue.jobs import JobKind
from zkgate.prover.queue.sql_job_queue import SqlJobQueue
from zkgate.prover.worker.key_affinity import CachedKeyModels
from zkgate.prover.worker.process import ConfigError, add_worker_arguments, config_from_args

DATA = b"proving key bytes \x00\x01\x02" * 1000
DIGEST = hashlib.sha256(DATA).hexdigest()
MIB = 1024 * 1024
# The smallest part S3 takes; small parts make a 12 MiB file a three-part upload.
PART_BYTES = 5 * MIB

BACKENDS = ["directory", "shared-directory", "s3"]


class Setup:
    """A store on one backend, and a way to overwrite a stored object behind its back."""

    def __init__(self, kind: str, tmp_path: Path, s3_server: S3Server | None) -> None:
        self.kind = kind
        self.accesses: list[CacheAccess] = []
        cache = LocalCache(tmp_path / "cache", max_bytes=64 * MIB, on_access=self.accesses.append)
        if kind == "directory":
            self.store = ArtifactStore(tmp_path / "artifacts")
        elif kind == "shared-directory":
            self.store = ArtifactStore(DirectoryBackend(tmp_path / "shared"), cache=cache)
        else:
            assert s3_server is not None
            self.bucket = s3_server.new_bucket()
            self.s3_server = s3_server
            backend = S3Backend(
                s3_server.client(), self.bucket, "team/zkgate", part_bytes=PART_BYTES
            )
            self.store = ArtifactStore(backend, cache=cache)

    def delete(self, digest: str) -> None:
        backend = self.store.backend
        if isinstance(backend, DirectoryBackend):
            backend.object_path(digest).unlink()
        else:
            assert isinstance(backend, S3Backend)
            self.s3_server.client().delete_object(Bucket=self.bucket, Key=backend.key(digest))

    def overwrite(self, digest: str, data: bytes) -> None:
        backend = self.store.backend
        if isinstance(backend, DirectoryBackend):
            backend.object_path(digest).write_bytes(data)
        else:
            assert isinstance(backend, S3Backend)
            self.s3_server.client().put_object(
                Bucket=self.bucket, Key=backend.key(digest), Body=data
            )


def _setup(request: pytest.FixtureRequest, tmp_path: Path) -> Setup:
    s3_server = request.getfixturevalue("s3_server") if request.param == "s3" else None
    return Setup(request.param, tmp_path, s3_server)


@pytest.fixture(params=BACKENDS)
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Setup:
    return _setup(request, tmp_path)


@pytest.fixture(params=[kind for kind in BACKENDS if kind != "directory"])
def cached_setup(request: pytest.FixtureRequest, tmp_path: Path) -> Setup:
    """The backends whose files a prover copies into its cache."""
    return _setup(request, tmp_path)


def _damaged(data: bytes) -> bytes:
    """Same length, one bit flipped: a size check alone cannot tell."""
    return data[:100] + bytes([data[100] ^ 1]) + data[101:]


def test_round_trip(setup: Setup) -> None:
    store = setup.store
    assert not store.exists(DIGEST)
    assert store.put_bytes(DATA) == DIGEST
    assert store.exists(DIGEST)
    assert store.read_bytes(DIGEST) == DATA
    assert store.size(DIGEST) == len(DATA)
    with store.local_file(DIGEST) as path:
        assert path.read_bytes() == DATA


def test_missing_artifact(setup: Setup) -> None:
    store = setup.store
    assert not store.exists(DIGEST)
    for read in (store.read_bytes, store.size):
        with pytest.raises(ArtifactNotFound):
            read(DIGEST)
    with pytest.raises(ArtifactNotFound), store.local_file(DIGEST):
        pass


@pytest.mark.parametrize("bad", [DIGEST.upper(), DIGEST[:-1], "../" + DIGEST[3:], ""])
def test_bad_digests_are_rejected(setup: Setup, bad: str) -> None:
    store = setup.store
    for call in (store.read_bytes, store.exists, store.size):
        with pytest.raises(ValueError, match="SHA-256"):
            call(bad)
    with pytest.raises(ValueError, match="SHA-256"), store.local_file(bad):
        pass


def test_putting_a_stored_digest_writes_nothing(setup: Setup) -> None:
    """Shown by damage that survives a second put: had the put written, it would be gone."""
    store = setup.store
    store.put_bytes(DATA)
    setup.overwrite(DIGEST, _damaged(DATA))
    assert store.put_bytes(DATA) == DIGEST
    with pytest.raises(ArtifactCorrupt, match=DIGEST):
        store.read_bytes(DIGEST)


def test_a_short_copy_is_replaced(setup: Setup) -> None:
    store = setup.store
    store.put_bytes(DATA)
    setup.overwrite(DIGEST, DATA[:-1])
    store.put_bytes(DATA)
    assert store.read_bytes(DIGEST) == DATA


def test_large_file_streams_in_parts(setup: Setup, tmp_path: Path) -> None:
    source = tmp_path / "pk.key"
    content = DATA * (12 * MIB // len(DATA))
    source.write_bytes(content)
    digest = setup.store.put_file(source)
    assert digest == hashlib.sha256(content).hexdigest()
    assert source.read_bytes() == content
    # local_file hashes the copy it hands out, so this also checks the upload's content.
    with setup.store.local_file(digest) as path:
        assert path.stat().st_size == len(content)
    if setup.kind == "s3":
        backend = setup.store.backend
        assert isinstance(backend, S3Backend)
        head = setup.s3_server.client().head_object(Bucket=setup.bucket, Key=backend.key(digest))
        # A multipart upload's ETag ends in the number of parts.
        assert head["ETag"].strip('"').endswith("-3")
        assert setup.s3_server.keys(setup.bucket) == {f"team/zkgate/sha256/{digest}": len(content)}


def test_moving_a_file_in_leaves_it_local(setup: Setup, tmp_path: Path) -> None:
    """A proving key just made is moved in: renamed into a directory backend, or after its
    upload into the cache, where the next proof finds it without a download."""
    source = tmp_path / "pk.key"
    source.write_bytes(DATA)
    assert setup.store.put_file(source, move=True) == DIGEST
    assert not source.exists()
    assert setup.store.read_bytes(DIGEST) == DATA
    with setup.store.local_file(DIGEST):
        pass
    if setup.kind == "s3":
        assert setup.accesses == [CacheAccess(digest=DIGEST, hit=True, size=len(DATA))]


def test_local_copies_are_downloaded_once_and_checked(cached_setup: Setup) -> None:
    setup = cached_setup
    store = setup.store
    assert store.cache is not None
    store.put_bytes(DATA)
    for _ in range(2):
        with store.local_file(DIGEST) as path:
            assert path.read_bytes() == DATA
    assert [access.hit for access in setup.accesses] == [False, True]
    # A hit asks the backend nothing, not even the size.
    setup.delete(DIGEST)
    with store.local_file(DIGEST) as path:
        assert path.read_bytes() == DATA
    other = DATA + b"tampered"
    other_digest = store.put_bytes(other)
    setup.overwrite(other_digest, _damaged(other))
    with pytest.raises(ArtifactCorrupt), store.local_file(other_digest):
        pass
    assert store.cache.digests() == {DIGEST}
    assert not any((store.cache.root / "tmp").iterdir())


# The local cache on its own.


class _Blobs:
    """An origin for the cache to download from: the backend methods it calls, over a dict."""

    def __init__(self, data: dict[str, bytes]) -> None:
        self.data = data

    def stored_size(self, digest: str) -> int | None:
        return len(self.data[digest]) if digest in self.data else None

    def download(self, digest: str, target: Path) -> None:
        target.write_bytes(self.data[digest])

    def describe(self) -> str:
        return "a dict"


class _Lying(_Blobs):
    """Downloads other bytes than the digest names."""

    def download(self, digest: str, target: Path) -> None:
        target.write_bytes(b"x")


def _blobs(count: int, size: int) -> dict[str, bytes]:
    blobs = [bytes([index]) * size for index in range(count)]
    return {hashlib.sha256(blob).hexdigest(): blob for blob in blobs}


def _use(cache: LocalCache, blobs: dict[str, bytes], digest: str) -> None:
    with cache.pinned(digest, _Blobs(blobs)):
        pass


def test_cache_evicts_the_least_recently_used(tmp_path: Path) -> None:
    blobs = _blobs(4, 1000)
    a, b, c, d = blobs
    cache = LocalCache(tmp_path, max_bytes=3000)
    for digest in (a, b, c, a):
        _use(cache, blobs, digest)
    _use(cache, blobs, d)
    assert cache.digests() == {a, c, d}
    assert cache.used_bytes() == 3000


def test_cache_never_evicts_a_pinned_file(tmp_path: Path) -> None:
    blobs = _blobs(4, 1000)
    a, b, c, d = blobs
    cache = LocalCache(tmp_path, max_bytes=2000)
    with cache.pinned(a, _Blobs(blobs)) as path:
        for digest in (b, c, d):
            _use(cache, blobs, digest)
        assert path.read_bytes() == blobs[a]
        assert cache.digests() == {a, d}
    _use(cache, blobs, b)
    assert cache.digests() == {b, d}


def test_cache_holds_a_file_beyond_its_budget_only_while_pinned(tmp_path: Path) -> None:
    blobs = _blobs(2, 3000)
    big, small = blobs
    cache = LocalCache(tmp_path, max_bytes=2000)
    with cache.pinned(big, _Blobs(blobs)) as path:
        assert path.read_bytes() == blobs[big]
    _use(cache, blobs, small)
    assert cache.digests() == {small}


def test_cache_pins_hold_across_processes(tmp_path: Path) -> None:
    """Provers of one node share the directory: another process's pin blocks eviction."""
    blobs = _blobs(3, 1000)
    a, b, c = blobs
    cache = LocalCache(tmp_path, max_bytes=1000)
    _use(cache, blobs, a)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; "
            "from zkgate.prover.artifacts.local_cache import LocalCache; "
            f"cache = LocalCache(Path({str(tmp_path)!r}), max_bytes=1000); "
            f"pin = cache.pinned({a!r}, None); pin.__enter__(); "
            "print('pinned', flush=True); sys.stdin.readline()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "pinned\n"
        _use(cache, blobs, b)
        assert cache.digests() == {a, b}
    finally:
        holder.communicate("\n", timeout=30)
    _use(cache, blobs, c)
    assert cache.digests() == {c}


def test_cache_rejects_a_download_that_does_not_match(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path, max_bytes=10_000)
    with (
        pytest.raises(ArtifactCorrupt, match=DIGEST),
        cache.pinned(DIGEST, _Lying({DIGEST: DATA})),
    ):
        pass
    assert cache.digests() == frozenset()
    assert not any((tmp_path / "tmp").iterdir())


def test_cache_reports_hits_and_misses(tmp_path: Path) -> None:
    heard: list[CacheAccess] = []
    cache = LocalCache(tmp_path, max_bytes=10_000, on_access=heard.append)
    blobs = {DIGEST: DATA}
    _use(cache, blobs, DIGEST)
    _use(cache, blobs, DIGEST)
    assert heard == [
        CacheAccess(digest=DIGEST, hit=False, size=len(DATA)),
        CacheAccess(digest=DIGEST, hit=True, size=len(DATA)),
    ]


def test_cache_removes_what_crashed_downloads_left(tmp_path: Path) -> None:
    LocalCache(tmp_path, max_bytes=1000)
    abandoned = tmp_path / "tmp" / "abc-123"
    abandoned.mkdir()
    (abandoned / "object").write_bytes(b"half a key")
    LocalCache(tmp_path, max_bytes=1000)
    assert not abandoned.exists()


# Settings.


def test_artifact_store_urls() -> None:
    assert parse_artifact_store("") is None
    assert parse_artifact_store("file:///mnt/zkgate") == Path("/mnt/zkgate")
    assert parse_artifact_store("s3://bucket/a/b/") == S3Location("bucket", "a/b")
    assert parse_artifact_store("s3://bucket") == S3Location("bucket", "")
    for bad in ("/mnt/zkgate", "file://host/mnt", "file://relative", "s3:///prefix", "gs://b"):
        with pytest.raises(ValueError, match="artifact_store"):
            parse_artifact_store(bad)


def test_gateway_reads_the_artifact_settings_from_the_environment() -> None:
    config = load_config(
        None, {"ZKGATE_ARTIFACT_STORE": "s3://b/p", "ZKGATE_KEY_CACHE_BYTES": "1000"}
    )
    assert config.artifact_settings() == ArtifactSettings(
        artifact_store="s3://b/p", key_cache_bytes=1000
    )
    with pytest.raises(ValueError, match="artifact_store"):
        load_config(None, {"ZKGATE_ARTIFACT_STORE": "ftp://b"})


def test_provers_get_the_gateways_settings_as_flags() -> None:
    import argparse

    settings = ArtifactSettings(
        artifact_store="s3://bucket/prefix",
        s3_endpoint_url="http://127.0.0.1:9000",
        s3_region="eu-west-3",
        key_cache_dir="/var/cache/zkgate",
        key_cache_bytes=123,
    )
    parser = argparse.ArgumentParser()
    add_worker_arguments(parser, {})
    args = parser.parse_args(["--data-dir", "/d", *settings.as_arguments()])
    assert artifact_settings_from_args(args) == settings
    assert config_from_args(args).artifacts == settings
    from_environment = argparse.ArgumentParser()
    add_artifact_arguments(from_environment, {"ZKGATE_KEY_CACHE_BYTES": "77"})
    assert artifact_settings_from_args(from_environment.parse_args([])).key_cache_bytes == 77
    with pytest.raises(ConfigError, match="key_cache_bytes"):
        config_from_args(parser.parse_args(["--data-dir", "/d", "--key-cache-bytes", "0"]))


def test_opening_a_store_from_settings(
    tmp_path: Path, s3_server: S3Server, s3_environment: dict[str, str]
) -> None:
    """Credentials come from the environment only (the fixture sets AWS_* variables)."""
    own = open_artifact_store(ArtifactSettings(), tmp_path)
    assert open_key_cache(ArtifactSettings(), tmp_path) is None
    own.put_bytes(DATA)
    assert (tmp_path / "artifacts" / "sha256" / DIGEST[:2] / DIGEST[2:]).is_file()

    bucket = s3_server.new_bucket()
    settings = ArtifactSettings(
        artifact_store=f"s3://{bucket}/zk", s3_endpoint_url=s3_server.endpoint_url
    )
    cache = open_key_cache(settings, tmp_path)
    assert cache is not None and cache.root == tmp_path / "key-cache"
    remote = open_artifact_store(settings, tmp_path, cache=cache)
    remote.put_bytes(DATA)
    assert s3_server.keys(bucket) == {f"zk/sha256/{DIGEST}": len(DATA)}


# Jobs go to the prover that holds their model's key.


def _card(name: str, proving_key: str) -> ModelCard:
    """A card with only what key affinity reads filled in meaningfully."""
    return ModelCard(
        name=name,
        commitment=hashlib.sha256(name.encode()).hexdigest(),
        ezkl_version="23.0.5",
        visibility=Visibility(input="public", output="public", param="fixed"),
        logrows=15,
        input_scale=13,
        output_scale=13,
        inputs=[TensorSpec("x", "FP32", [1, 64])],
        outputs=[TensorSpec("y", "FP32", [1, 10])],
        fidelity=Fidelity(
            samples=1,
            max_abs_diff=0.0,
            argmax_agreement=1.0,
            tolerance=0.01,
            method="set by the test",
            false_rejection_bound=0.5,
        ),
        keys=KeySizes(proving_key_bytes=1000, verifying_key_bytes=100),
        prove_seconds=1.0,
        srs=SrsInfo(origin="insecure-dev", logrows=15, file_sha256=DIGEST, identity=DIGEST),
        onnx_sha256=DIGEST,
        artifacts={"pk": proving_key},
        created_at=time.time(),
    )


def test_a_prover_holding_the_key_is_preferred(tmp_path: Path) -> None:
    database = Database(tmp_path / "zkgate.db")
    catalog = ModelCatalog(database)
    queue = SqlJobQueue(database)
    blobs = _blobs(2, 1000)
    _, second_key = blobs
    for name, proving_key in zip(("first", "second"), blobs, strict=True):
        catalog.create(
            name, policy=ProofPolicy.ON_REQUEST, onnx_digest=DIGEST, calibration_digest=DIGEST
        )
        card = _card(name, proving_key)
        catalog.mark_ready(name, commitment=card.commitment, card_json=card.to_json())
    near_cache = LocalCache(tmp_path / "near", max_bytes=10_000)
    _use(near_cache, blobs, second_key)
    near = CachedKeyModels(catalog, near_cache)
    far = CachedKeyModels(catalog, LocalCache(tmp_path / "far", max_bytes=10_000))
    assert near() == {"second"}
    assert far() == frozenset()

    first, _ = queue.enqueue(JobKind.PROVE, "first", {})
    second, _ = queue.enqueue(JobKind.PROVE, "second", {})
    claimed = queue.claim("near", lease_seconds=60, prefer_models=near())
    assert claimed is not None and claimed.id == second.id
    claimed = queue.claim("far", lease_seconds=60, prefer_models=far())
    assert claimed is not None and claimed.id == first.id


# The whole path on S3.


def test_register_prove_and_verify_with_artifacts_in_s3(
    tmp_path: Path,
    s3_server: S3Server,
    s3_bucket: str,
    s3_environment: dict[str, str],
    digits_inputs: np.ndarray,
) -> None:
    """A real gateway and prover configured through the environment; the proof is made on a
    second start with a cold key cache, as a fresh prover node would, so the keys come from
    the bucket."""
    data_dir = tmp_path / "data"
    settings = {
        "ZKGATE_ARTIFACT_STORE": f"s3://{s3_bucket}/zkgate",
        "ZKGATE_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "ZKGATE_S3_REGION": S3_REGION,
    }
    registering = start_gateway(
        data_dir, env={**settings, "ZKGATE_KEY_CACHE_DIR": str(tmp_path / "cache-a")}
    )
    try:
        with registering.client() as client:
            model = register(client, "digits", DIGITS / "model.onnx")
            card = client.bundle("digits").card
    finally:
        registering.stop()
    proving_key = card.artifacts["pk"]
    cold_cache = tmp_path / "cache-b"
    proving = start_gateway(data_dir, env={**settings, "ZKGATE_KEY_CACHE_DIR": str(cold_cache)})
    try:
        with proving.client() as client:
            prediction = client.infer("digits", {"input": digits_inputs[0]}, prove=True)
            assert prediction.job_id
            proof = client.wait_for_proof(prediction.job_id, timeout=300)
            verified = verify(
                prediction,
                proof,
                client.bundle("digits"),
                pinned_commitment=model.commitment,
                gateway_public_key=client.gateway_key(),
                allow_insecure_srs=True,
            )
    finally:
        proving.stop()
    assert verified.commitment == model.commitment
    stored = s3_server.keys(s3_bucket)
    for name in ("onnx", "compiled", "settings", "vk", "pk", "srs", "srs_slice"):
        assert f"zkgate/sha256/{card.artifacts[name]}" in stored
    assert stored[f"zkgate/sha256/{proving_key}"] == card.keys.proving_key_bytes
    assert f"zkgate/sha256/{hashlib.sha256(proof).hexdigest()}" in stored
    assert (cold_cache / "sha256" / proving_key[:2] / proving_key[2:]).is_file()
    assert not (data_dir / "artifacts").exists()
