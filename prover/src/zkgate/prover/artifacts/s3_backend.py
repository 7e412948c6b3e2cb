"""Artifacts in an S3-compatible bucket, so that gateways and provers on many nodes share them.

Objects are written whole or not at all: a single PUT, or a multipart upload that becomes
visible only when completed (and that boto3 aborts when a part fails). Large files are streamed
in parts from disk and downloaded with parallel ranged GETs, never held in memory.

Credentials come from boto3's usual sources (AWS_* environment variables, the shared
credentials file, an instance or pod role), never from zkgate's own settings: flags and config
files end up in process listings and logs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from zkgate.prover.artifacts.digests import ArtifactNotFound, Digest

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

# S3's smallest part is 5 MiB; 64 MiB parts keep a 4.6 GB proving key to 70 requests, and
# boto3 grows the part size by itself for files that would need more than 10,000 parts.
DEFAULT_PART_BYTES = 64 * 1024 * 1024
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class S3Backend:
    """Objects at s3://bucket/{prefix}sha256/{digest}."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "",
        *,
        part_bytes: int = DEFAULT_PART_BYTES,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._transfer = TransferConfig(
            multipart_threshold=part_bytes, multipart_chunksize=part_bytes
        )

    @classmethod
    def connect(
        cls, bucket: str, prefix: str = "", *, endpoint_url: str = "", region: str = ""
    ) -> S3Backend:
        """A backend on a new client; endpoint_url selects an S3-compatible service (MinIO,
        Ceph, a test server), empty for AWS itself."""
        return cls(s3_client(endpoint_url=endpoint_url, region=region), bucket, prefix)

    def key(self, digest: Digest) -> str:
        return f"{self._prefix}sha256/{digest}"

    def stored_size(self, digest: Digest) -> int | None:
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=self.key(digest))
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise
        return head["ContentLength"]

    def write_bytes(self, digest: Digest, data: bytes) -> None:
        self._client.put_object(Bucket=self._bucket, Key=self.key(digest), Body=data)

    def write_file(self, digest: Digest, source: Path, *, move: bool) -> None:
        # An upload is always a copy: move leaves the file to the caller.
        self._client.upload_file(str(source), self._bucket, self.key(digest), Config=self._transfer)

    def read_bytes(self, digest: Digest) -> bytes:
        return self._get(digest).read()

    def download(self, digest: Digest, target: Path) -> None:
        try:
            self._client.download_file(
                self._bucket, self.key(digest), str(target), Config=self._transfer
            )
        except ClientError as exc:
            if _is_missing(exc):
                raise ArtifactNotFound(f"no artifact {digest} in {self.describe()}") from None
            raise

    def delete(self, digest: Digest) -> None:
        # S3 answers a missing key with success too.
        self._client.delete_object(Bucket=self._bucket, Key=self.key(digest))

    def describe(self) -> str:
        return f"s3://{self._bucket}/{self._prefix}"

    def _get(self, digest: Digest) -> StreamingBody:
        try:
            return self._client.get_object(Bucket=self._bucket, Key=self.key(digest))["Body"]
        except ClientError as exc:
            if _is_missing(exc):
                raise ArtifactNotFound(f"no artifact {digest} in {self.describe()}") from None
            raise


def s3_client(*, endpoint_url: str = "", region: str = "") -> S3Client:
    """A client with credentials from boto3's usual sources; endpoint_url selects an
    S3-compatible service, empty for AWS itself."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region or None,
        config=Config(retries={"mode": "standard", "max_attempts": 5}),
    )


def _is_missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code", "") in _MISSING_CODES
