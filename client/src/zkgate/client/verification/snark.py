"""Reading a proof file and checking its SNARK with ezkl, under the committed key and SRS.

Only the `instances` and `proof` fields of the file are kept: everything else in it is the
prover's unchecked text.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import ezkl

from zkgate.client.verification.reasons import Reason, VerificationError
from zkgate.core.bundle import VerifierBundle
from zkgate.core.documents import DocumentError, parse_object
from zkgate.core.ezkl_version import INSTALLED_EZKL_VERSION
from zkgate.core.instances import (
    CircuitLayout,
    InstanceLayoutError,
    PublicInstances,
    split_instances,
)


def parse_proof(proof: bytes, layout: CircuitLayout) -> tuple[dict[str, Any], PublicInstances]:
    """Keep only `instances` and `proof`: everything else in the file is unchecked prover text."""
    try:
        raw = parse_object(proof, what="proof").raw
    except DocumentError as exc:
        raise VerificationError(Reason.INVALID_PROOF, str(exc)) from exc
    if not isinstance(raw.get("proof"), list):
        raise VerificationError(
            Reason.INVALID_PROOF, "proof JSON lacks a `proof` byte list and `instances`"
        )
    try:
        instances = split_instances(layout, raw.get("instances"))
    except InstanceLayoutError as exc:
        raise VerificationError(Reason.INVALID_PROOF, str(exc)) from exc
    return {"instances": raw["instances"], "proof": raw["proof"]}, instances


def check_snark(stripped_proof: dict[str, Any], bundle: VerifierBundle) -> str:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zkgate-verify-") as tmp:
        directory = Path(tmp)
        paths = {
            name: directory / name for name in ("proof.json", "settings.json", "vk.key", "srs")
        }
        paths["proof.json"].write_text(json.dumps(stripped_proof), encoding="utf-8")
        paths["settings.json"].write_bytes(bundle.settings)
        paths["vk.key"].write_bytes(bundle.verifying_key)
        paths["srs"].write_bytes(bundle.srs_slice)
        try:
            ezkl.verify(
                str(paths["proof.json"]),
                str(paths["settings.json"]),
                str(paths["vk.key"]),
                str(paths["srs"]),
                False,  # reduced_srs: the slice is already the smallest SRS there is
            )
        except RuntimeError as exc:
            raise VerificationError(Reason.INVALID_PROOF, str(exc)) from exc
    elapsed_ms = (time.perf_counter() - started) * 1000
    return (
        f"zk-SNARK verifies under the committed verifying key and SRS "
        f"(ezkl {INSTALLED_EZKL_VERSION}, {elapsed_ms:.0f} ms)"
    )
