"""What an entry point is, and the document builders every area's entry points share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fuzz.seeds import Seeds
from zkgate.core.attestations import SignedStatement
from zkgate.core.bundle import VerifierBundle

Errors = tuple[type[BaseException], ...]


@dataclass(frozen=True)
class EntryPoint:
    name: str
    # Which real documents (Seeds.documents keys) mutation starts from.
    seeds: tuple[str, ...]
    call: Callable[[bytes, Seeds], object]
    documented: Errors
    # The module where a crash is to be fixed (for routing reports).
    owner: str


def text(data: bytes) -> str:
    """A str-taking entry point gets the bytes as the file reader would give them."""
    return data.decode("utf-8", errors="replace")


def bundle_with(ctx: Seeds, *, batch: bool = False, **parts: object) -> VerifierBundle:
    base = ctx.batch_bundle if batch else ctx.bundle
    fields: dict[str, object] = {
        "card_json": base.card_json,
        "verifying_key": base.verifying_key,
        "settings": base.settings,
        "srs_slice": base.srs_slice,
        **parts,
    }
    return VerifierBundle.from_bytes(**fields)  # type: ignore[arg-type]


def signed_statement(kind: type[SignedStatement]) -> Callable[[bytes, Seeds], object]:
    def parse(data: bytes, ctx: Seeds) -> object:
        statement = kind.from_json(data)
        statement.verify()
        return statement

    return parse
