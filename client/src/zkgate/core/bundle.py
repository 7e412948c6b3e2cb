"""Everything a client needs to check proofs of one model, offline.

The bundle travels from an untrusted provider, so nothing in it is believed until its bytes hash
to the commitment the client pinned; `commitment()` therefore recomputes it from the raw bytes
rather than reading the card's claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zkgate.core.card import CardFormatError, ModelCard
from zkgate.core.commitment import model_commitment
from zkgate.core.documents import DocumentError, parse_object
from zkgate.core.output_files import write_atomic
from zkgate.core.srs import SrsFormatError, srs_identity

CARD_FILE = "card.json"
VERIFYING_KEY_FILE = "verifying.key"
SETTINGS_FILE = "settings.json"
SRS_SLICE_FILE = "srs-slice.srs"
BUNDLE_FILES = (CARD_FILE, VERIFYING_KEY_FILE, SETTINGS_FILE, SRS_SLICE_FILE)


class BundleError(ValueError):
    """A bundle directory or file that cannot be read as a verifier bundle."""


@dataclass(frozen=True)
class VerifierBundle:
    card: ModelCard
    card_json: str
    verifying_key: bytes
    settings: bytes
    srs_slice: bytes

    @classmethod
    def from_bytes(
        cls, *, card_json: str, verifying_key: bytes, settings: bytes, srs_slice: bytes
    ) -> VerifierBundle:
        """Parse and sanity-check the parts; the card text is kept verbatim for re-saving."""
        try:
            card = ModelCard.from_json(card_json)
        except CardFormatError as exc:
            raise BundleError(f"{CARD_FILE}: {exc}") from exc
        if not verifying_key:
            raise BundleError(f"{VERIFYING_KEY_FILE} is empty")
        try:
            parsed = parse_object(settings, what=SETTINGS_FILE)
        except DocumentError as exc:
            raise BundleError(str(exc)) from exc
        if "run_args" not in parsed:
            raise BundleError(f"{SETTINGS_FILE} is not an ezkl circuit settings file")
        try:
            srs_identity(srs_slice)
        except SrsFormatError as exc:
            raise BundleError(f"{SRS_SLICE_FILE}: {exc}") from exc
        return cls(
            card=card,
            card_json=card_json,
            verifying_key=verifying_key,
            settings=settings,
            srs_slice=srs_slice,
        )

    @classmethod
    def load(cls, directory: Path) -> VerifierBundle:
        if not directory.is_dir():
            raise BundleError(f"bundle directory {directory} does not exist")
        missing = [name for name in BUNDLE_FILES if not (directory / name).is_file()]
        if missing:
            raise BundleError(
                f"bundle directory {directory} lacks {', '.join(missing)}; "
                f"a verifier bundle holds {', '.join(BUNDLE_FILES)}"
            )
        card_bytes = (directory / CARD_FILE).read_bytes()
        try:
            card_json = card_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BundleError(f"{CARD_FILE} is not UTF-8 text: {exc}") from exc
        return cls.from_bytes(
            card_json=card_json,
            verifying_key=(directory / VERIFYING_KEY_FILE).read_bytes(),
            settings=(directory / SETTINGS_FILE).read_bytes(),
            srs_slice=(directory / SRS_SLICE_FILE).read_bytes(),
        )

    def save(self, directory: Path) -> None:
        """Each file whole or not at all: a bundle cut short by an interrupted save would read
        as a tampered one."""
        for name, data in (
            (CARD_FILE, self.card_json),
            (VERIFYING_KEY_FILE, self.verifying_key),
            (SETTINGS_FILE, self.settings),
            (SRS_SLICE_FILE, self.srs_slice),
        ):
            write_atomic(directory / name, data)

    def srs_identity(self) -> str:
        return srs_identity(self.srs_slice)

    def settings_ezkl_version(self) -> str:
        """The ezkl version that wrote settings.json, which the card's claim must match."""
        version = parse_object(self.settings, what=SETTINGS_FILE).raw.get("version")
        return version if isinstance(version, str) else ""

    def commitment(self) -> str:
        """Recomputed from the bytes held, never taken from the card."""
        return model_commitment(
            verifying_key=self.verifying_key,
            settings=self.settings,
            srs_identity=self.srs_identity(),
            ezkl_version=self.card.ezkl_version,
            serving_terms=self.card.terms(),
        )
