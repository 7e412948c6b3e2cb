"""Content-addressed artifact store shared by the gateway and the provers: the face of the
artifacts layer, where every digest from outside is checked, once.

Artifacts are named by their SHA-256, so a name can never point at other bytes, a writer never
needs a lock (two writers of the same name write the same bytes), and a copy never goes stale.
The bytes live in a backend (backend.py: a local or shared directory; s3_backend.py: a
bucket); what must not differ between backends is here: naming, the no-op when a name is
already stored, and checking bytes against their name when they are read.

ezkl works on file paths, hence local_file(): the stored file itself for a directory without a
cache, else a copy in the node's LocalCache, pinned while in use; either is checked against its
name before ezkl sees it, once per copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from zkgate.prover.artifacts.backend import ArtifactBackend, DirectoryBackend
from zkgate.prover.artifacts.checked_files import CheckedFiles, written_stamp
from zkgate.prover.artifacts.digests import (
    CHUNK_BYTES,
    ArtifactCorrupt,
    ArtifactNotFound,
    Digest,
    check_digest,
    hash_bytes,
    hash_file,
    validate_digest,
)
from zkgate.prover.artifacts.local_cache import LocalCache

__all__ = [
    "CHUNK_BYTES",
    "ArtifactCorrupt",
    "ArtifactNotFound",
    "ArtifactStore",
]


class ArtifactStore:
    def __init__(self, backend: ArtifactBackend | Path, *, cache: LocalCache | None = None) -> None:
        """A Path stands for a DirectoryBackend there: the single-node default. A backend whose
        objects are not local files needs a cache for local_file()."""
        self.backend = DirectoryBackend(backend) if isinstance(backend, Path) else backend
        self.cache = cache
        # The directory's own files, handed to ezkl without a copy; they are replaced by a
        # rename, never written in place, so a changed modification time means damage.
        self._checked = CheckedFiles(written_stamp)

    def put_bytes(self, data: bytes) -> str:
        digest = hash_bytes(data)
        if self.backend.stored_size(digest) != len(data):
            self.backend.write_bytes(digest, data)
        return digest

    def put_file(self, path: Path, *, move: bool = False) -> str:
        """Stores a copy of path, or, with move=True, takes the file itself: a rename into a
        directory on the same file system (which saves copying a multi-gigabyte proving key),
        else, after the upload, into this node's cache, where the next proof finds it."""
        digest = hash_file(path)
        if self.backend.stored_size(digest) != path.stat().st_size:
            self.backend.write_file(digest, path, move=move)
        if move and path.exists():
            if self.cache is not None:
                self.cache.adopt(digest, path)
            else:
                path.unlink()
        return digest

    def read_bytes(self, digest: str) -> bytes:
        data = self.backend.read_bytes(validate_digest(digest))
        check_digest(digest, hash_bytes(data))
        return data

    def exists(self, digest: str) -> bool:
        return self.backend.stored_size(validate_digest(digest)) is not None

    def size(self, digest: str) -> int:
        size = self.backend.stored_size(validate_digest(digest))
        if size is None:
            raise ArtifactNotFound(f"no artifact {digest} in {self.backend.describe()}")
        return size

    def delete(self, digest: str) -> int | None:
        """Deletes the artifact, returning the bytes freed (None if it was not stored). For the
        sweep of removed model versions only (queue/artifact_sweep.py), which knows that nothing
        references it: a name is shared by everything with the same bytes. Copies in provers'
        LocalCaches are not touched; they age out under the cache's byte budget."""
        name = validate_digest(digest)
        size = self.backend.stored_size(name)
        if size is not None:
            self.backend.delete(name)
        return size

    @contextmanager
    def local_file(self, digest: str) -> Iterator[Path]:
        """A local file holding the artifact, valid until the block ends, checked against its
        name once per copy (see CheckedFiles); raises ArtifactCorrupt for a damaged one."""
        name = validate_digest(digest)
        if self.cache is None:
            path = self._stored_file(name)
            self._checked.check(name, path, "stored artifact")
            yield path
            return
        with self.cache.pinned(name, self.backend) as path:
            yield path

    @contextmanager
    def local_files(
        self, artifacts: Mapping[str, str], names: Iterable[str]
    ) -> Iterator[dict[str, Path]]:
        """local_file of each named artifact (artifacts maps a name, as a card's "pk", to its
        digest), all pinned until the block ends. A damaged copy fails as ArtifactCorrupt that
        names the artifact: ezkl would take a flipped bit in a proving key and fail only at the
        proof's self-check, as an unsatisfied circuit, on every proof of the model."""
        with ExitStack() as pinned:
            local = {}
            for name in names:
                digest = artifacts[name]
                try:
                    local[name] = pinned.enter_context(self.local_file(digest))
                except ArtifactCorrupt as exc:
                    raise ArtifactCorrupt(
                        f"the model's {name} artifact {digest} is corrupted ({exc}); restore it "
                        "from a backup of the artifact store, or register the model again"
                    ) from exc
            yield local

    def path(self, digest: str) -> Path:
        """The stored file itself, for a directory store without a cache (one node's tools and
        tests); code that may run against a remote store uses local_file()."""
        return self._stored_file(validate_digest(digest))

    def _stored_file(self, digest: Digest) -> Path:
        if not isinstance(self.backend, DirectoryBackend) or self.cache is not None:
            raise TypeError(
                f"artifacts in {self.backend.describe()} are reached through local_file()"
            )
        target = self.backend.object_path(digest)
        if not target.is_file():
            raise ArtifactNotFound(f"no artifact {digest}")
        return target
