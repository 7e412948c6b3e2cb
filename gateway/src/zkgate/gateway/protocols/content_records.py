"""Protocol state kept as content-addressed JSON records in the artifact store.

The gateway keeps no tables for evaluations, datasets or retrievals: each is one record whose
digest is its id, so any replica can answer for it and a repeated request maps to the same
record. Ids come from callers, so reading one is defensive: any stored artifact has a digest,
and a proving key of gigabytes is not read to find out that it is no record.
"""

from __future__ import annotations

import json
from typing import Any

from zkgate.core.attestations import AttestationError, check_digest
from zkgate.core.canonical import canonical_json
from zkgate.gateway.errors import InvalidRequest, NotFound
from zkgate.prover.artifacts.store import ArtifactStore

_MAX_RECORD_BYTES = 16 * 1024 * 1024


def put_record(store: ArtifactStore, record: dict[str, Any]) -> str:
    return store.put_bytes(canonical_json(record))


def read_record(
    store: ArtifactStore, record_id: str, *, record_format: str, what: str
) -> dict[str, Any]:
    """The record `record_id` names, or NotFound unless it is a stored record of that format."""
    try:
        check_digest(record_id, f"{what}_id")
    except AttestationError as exc:
        raise InvalidRequest(str(exc)) from exc
    if not store.exists(record_id) or store.size(record_id) > _MAX_RECORD_BYTES:
        raise NotFound(f"no {what} {record_id}")
    try:
        record = json.loads(store.read_bytes(record_id))
    except (ValueError, UnicodeDecodeError):
        record = None
    if not isinstance(record, dict) or record.get("format") != record_format:
        raise NotFound(f"no {what} {record_id}")
    return record
