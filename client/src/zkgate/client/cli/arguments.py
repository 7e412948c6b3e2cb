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
from typing import TypeVar

from zkgate.core.output_files import (
    OutputPathError,
    check_output_directory,
    check_output_file,
)

N = TypeVar("N", int, float)
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


def _checked(
    parse: Callable[[str], N], holds: Callable[[N], bool], refusal: str
) -> Callable[[str], N]:
    """A `type=` that parses with `parse` and refuses a value for which `holds` is false;
    `refusal` names what the value is not, after the value itself."""

    def check(text: str) -> N:
        value = parse(text)
        if not holds(value):
            raise argparse.ArgumentTypeError(f"{value:g} {refusal}")
        return value

    return check


positive_int = _checked(_integer, lambda v: v >= 1, "is not a positive integer")
non_negative_int = _checked(_integer, lambda v: v >= 0, "is negative")
positive_seconds = _checked(_number, lambda v: v > 0, "is not a positive number of seconds")
non_negative_number = _checked(_number, lambda v: v >= 0, "is negative")
# Strictly between 0 and 1: an epsilon or a delta, where both ends are meaningless.
open_fraction = _checked(_number, lambda v: 0 < v < 1, "does not lie strictly between 0 and 1")
# In [0, 1]: a rate.
closed_fraction = _checked(_number, lambda v: 0 <= v <= 1, "does not lie between 0 and 1")


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


def calibration_file(text: str) -> Path:
    """Calibration data to upload: a .npy array (a model with one input) or a .npz of arrays
    named after the model's inputs, read here as the gateway will read it, so a file it could
    not read is refused before the upload; which inputs it must name, the gateway checks
    against the model. numpy is imported here, at parse time of `models add` only: building
    the parser must stay free of it (`zkgate --help` needs none)."""
    from zkgate.core.npz_arrays import load_npy_or_npz

    path = Path(text)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text}: {exc.strerror or exc}") from exc
    load_npy_or_npz(data, f"calibration file {text}", argparse.ArgumentTypeError)
    return path
