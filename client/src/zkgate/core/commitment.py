"""The model commitment that clients pin.

The verifying key alone does not authenticate settings.json (FACTS: scales and even visibility
can be edited and proofs still verify), yet the settings decide how instances are read back into
numbers. The SRS decides who could forge proofs, and artifacts from another ezkl version are not
interchangeable. The serving terms (tensor names and shapes, the default fidelity tolerance)
decide what a served prediction is held to. So the commitment covers all five: nothing a
verifier reads by default is left for the provider to change after the client pinned it.
"""

from __future__ import annotations

from zkgate.core.canonical import framed_digest

COMMITMENT_DOMAIN = "zkgate.model-commitment/v2"


def model_commitment(
    *,
    verifying_key: bytes,
    settings: bytes,
    srs_identity: str,
    ezkl_version: str,
    serving_terms: bytes,
) -> str:
    """Hex SHA-256 over (verifying key, settings bytes, SRS identity, ezkl version, serving
    terms as `card.serving_terms` encodes them)."""
    return framed_digest(
        COMMITMENT_DOMAIN,
        [
            verifying_key,
            settings,
            srs_identity.encode("ascii"),
            ezkl_version.encode("utf-8"),
            serving_terms,
        ],
    )
