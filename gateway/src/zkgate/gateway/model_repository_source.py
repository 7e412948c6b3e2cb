"""A model repository kept under an object-store prefix (s3://bucket/prefix), mirrored into a
local directory before each sync.

The repository reader (model_repository.py) works on folders; a bucket is brought to it rather
than taught to it, so both sources are read by the same code. The mirror downloads only objects
whose size or modification time changed since the last copy and deletes local files whose
objects are gone, so a sync after a change in the bucket sees exactly the bucket.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from zkgate.prover.artifacts.store_settings import S3Location, parse_artifact_store

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


def object_store_location(url: str) -> S3Location | None:
    """The bucket and prefix of an s3:// repository URL; None for a local directory."""
    if not url.startswith("s3://"):
        return None
    try:
        location = parse_artifact_store(url)
    except ValueError:
        location = None
    if not isinstance(location, S3Location):
        raise ValueError(f"model_repository {url!r} is not s3://bucket/prefix")
    return location


@dataclass
class ObjectStoreMirror:
    client: S3Client
    location: S3Location
    target: Path

    def refresh(self) -> None:
        """Makes target hold exactly the objects under the prefix (keys outside any folder, or
        that would leave target, are skipped)."""
        prefix = self.location.prefix + "/" if self.location.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=prefix
        )
        wanted: set[Path] = set()
        for page in pages:
            for item in page.get("Contents", []):
                relative = PurePosixPath(item["Key"][len(prefix) :])
                if len(relative.parts) < 2 or ".." in relative.parts or relative.is_absolute():
                    continue
                local = self.target.joinpath(*relative.parts)
                wanted.add(local)
                stamp = item["LastModified"].timestamp()
                if not _same(local, item["Size"], stamp):
                    self._download(item["Key"], local, stamp)
        for stale in [p for p in self.target.rglob("*") if p.is_file() and p not in wanted]:
            stale.unlink()
        # Deepest first, so a folder emptied of subfolders goes too: a folder gone from the
        # bucket must not linger as an empty (refused) one.
        for folder in sorted(self.target.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()

    def _download(self, key: str, local: Path, stamp: float) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        partial = local.with_name(local.name + ".partial")
        self.client.download_file(self.location.bucket, key, str(partial))
        os.utime(partial, (stamp, stamp))
        partial.replace(local)


def _same(local: Path, size: int, stamp: float) -> bool:
    try:
        stat = local.stat()
    except FileNotFoundError:
        return False
    return stat.st_size == size and stat.st_mtime == stamp
