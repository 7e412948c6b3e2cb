"""argparse `type=` functions for the zkgate command: arguments are refused while parsing.

A negative count or an unwritable output path found at parse time costs nothing; found after
connecting, it costs a round trip, and found after proving, the proofs. argparse reports an
`ArgumentTypeError` with its own message and exit code 2, so each check raises one.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path

from zkgate.client.output_files import (
    OutputPathError,
    check_output_directory,
    check_output_file,
)

_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def positive_int(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def non_negative_int(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def positive_seconds(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value:g} is not a positive number of seconds")
    return value


def non_negative_number(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value:g} is negative")
    return value


def open_fraction(text: str) -> float:
    """Strictly between 0 and 1: an epsilon or a delta, where both ends are meaningless."""
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{value:g} does not lie strictly between 0 and 1")
    return value


def closed_fraction(text: str) -> float:
    """In [0, 1]: a rate."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{value:g} does not lie between 0 and 1")
    return value


def hex_digest(text: str) -> str:
    """A commitment or SRS identity: 64 hex digits, lowercased as zkgate computes them, so a
    pin copied in capitals still compares equal."""
    if not _HEX_DIGEST.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text[:80]!r} is not 64 hex digits")
    return text.lower()


def _path_check(check: Callable[[Path, str], Path], what: str) -> Callable[[str], Path]:
    def parse(text: str) -> Path:
        try:
            return check(Path(text), what)
        except OutputPathError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    return parse


def output_file(what: str) -> Callable[[str], Path]:
    """A file the command will write: its directory must exist and be writable."""
    return _path_check(check_output_file, what)


def output_directory(what: str) -> Callable[[str], Path]:
    """A directory the command will write into, created if missing."""
    return _path_check(check_output_directory, what)
