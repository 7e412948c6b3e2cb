"""Entry points of proof-of-learning: archives, manifests, training policies, and the training
intents and commitment timestamps the gateway signs."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fuzz.entries.entry import EntryPoint, signed_statement
from fuzz.seeds import Seeds
from zkgate.core.attestations import AttestationError, CommitmentTimestamp, TrainingIntent
from zkgate.core.learning.archive import ArchiveError, check_archive, extract_archive
from zkgate.core.learning.manifest import Manifest, ManifestError
from zkgate.core.learning.policy import PolicyError, TrainingPolicy


def archive_check(data: bytes, ctx: Seeds) -> object:
    check_archive(data)
    with tempfile.TemporaryDirectory(prefix="zkgate-fuzz-extract-") as tmp:
        return extract_archive(data, Path(tmp) / "out")


def manifest_from_json(data: bytes, ctx: Seeds) -> object:
    manifest = Manifest.from_json(data)
    manifest.verify_signature()
    return manifest


def policy_from_json(data: bytes, ctx: Seeds) -> object:
    return TrainingPolicy.from_json(data)


LEARNING_ENTRIES: tuple[EntryPoint, ...] = (
    EntryPoint(
        "training_intent",
        ("training_intent",),
        signed_statement(TrainingIntent),
        (AttestationError,),
        "zkgate.core.attestations",
    ),
    EntryPoint(
        "commitment_timestamp",
        ("commitment_timestamp",),
        signed_statement(CommitmentTimestamp),
        (AttestationError,),
        "zkgate.core.attestations",
    ),
    EntryPoint(
        "learning_archive",
        ("learning_archive",),
        archive_check,
        (ArchiveError,),
        "zkgate.core.learning.archive",
    ),
    EntryPoint(
        "pol_manifest",
        ("manifest",),
        manifest_from_json,
        # Manifest.from_json lets the intent's and the policy's own errors through, by design.
        (ManifestError, AttestationError, PolicyError),
        "zkgate.core.learning.manifest",
    ),
    EntryPoint(
        "pol_policy", ("policy",), policy_from_json, (PolicyError,), "zkgate.core.learning.policy"
    ),
)
