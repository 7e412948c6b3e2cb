"""What the zkgate command's exit code says, the same for every subcommand.

The codes separate the two kinds of failure a user must act on differently: 1 means the evidence
was read and does not hold up (the provider or gateway is at fault), 2 means the files given
could not be read at all (the user's invocation is at fault).
"""

from __future__ import annotations

from pathlib import Path

EXIT_VERIFIED = 0
EXIT_REJECTED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class InputError(ValueError):
    """A file or argument the command cannot read; reported without a traceback."""


def read_input(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
