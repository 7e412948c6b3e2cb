"""The ezkl calls that registration and proving share, each failure turned into ProvingError.

ezkl's errors depend only on its inputs, so they are deterministic; OSError (a full disk, a
missing file) is left alone, since it may pass.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import ezkl

from zkgate.core.ezkl_version import INSTALLED_EZKL_VERSION

# What the artifacts record, and what the client compares against.
EZKL_VERSION = INSTALLED_EZKL_VERSION


class ProvingError(Exception):
    """The request cannot be proven with this model, however often it is retried."""


def run_ezkl(what: str, call: Callable[[], object]) -> None:
    """Runs one ezkl call, turning its failure (or a False result) into ProvingError."""
    try:
        outcome = call()
    except OSError:
        raise
    except Exception as exc:
        raise ProvingError(f"{what} failed: {exc}") from exc
    if outcome is False:
        raise ProvingError(f"{what} failed")


def compute_witness(what: str, *, data: Path, compiled: Path, witness: Path) -> None:
    run_ezkl(
        what,
        lambda: ezkl.gen_witness(
            str(data), str(compiled), str(witness), vk_path=None, srs_path=None
        ),
    )


def make_proof(
    what: str, *, witness: Path, compiled: Path, proving_key: Path, proof: Path, srs: Path
) -> None:
    run_ezkl(
        what,
        lambda: ezkl.prove(
            str(witness), str(compiled), str(proving_key), str(proof), srs_path=str(srs)
        ),
    )


def verify_proof(proof: Path, *, settings: Path, verifying_key: Path, srs_slice: Path) -> None:
    run_ezkl(
        "verifying the proof against the verifier slice",
        lambda: ezkl.verify(
            str(proof), str(settings), str(verifying_key), str(srs_slice), reduced_srs=False
        ),
    )
