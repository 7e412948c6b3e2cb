"""Where a command's results go: lines for people on stdout, or, under `--json`, one JSON
document on stdout for scripts and the lines for people on stderr.

Every command writes through one `CommandOutput`, so the document always comes out once and
always has the same frame, `{"ok": bool, "exit_code": int, ...the command's fields...,
"errors": [...]}`, whether the command succeeded, was refused, or failed before it could say
anything of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from zkgate.client.verification.reasons import WarningCheck

if TYPE_CHECKING:
    from zkgate.core.tensors import NamedTensor

_ATTRIBUTE = "_zkgate_output"


def add_json_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    # SUPPRESS: a subcommand's unset flag must not overwrite `zkgate --json ...`'s.
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON document on stdout (messages go to stderr) (default: text)",
    )
    return parser


class CommandOutput:
    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode
        self._fields: dict[str, Any] = {}
        self._errors: list[str] = []
        self._finished = False

    def say(self, text: str) -> None:
        """A line for people: stdout, or stderr when stdout carries the JSON document."""
        print(text, file=sys.stderr if self.json_mode else sys.stdout, flush=self.json_mode)

    def error(self, text: str) -> None:
        """A failure, on stderr; under --json also in the document's `errors`."""
        print(text, file=sys.stderr)
        self._errors.append(text)

    def set(self, **fields: Any) -> None:
        """Fields of the JSON document (ignored in text mode, where `say` carries them)."""
        self._fields.update(fields)

    def checks(self, checks: Sequence[str], indent: str = "") -> list[Mapping[str, str]]:
        """Says a verifier's check lines, each `ok` or, for one that passed only because the
        caller waived a requirement (an untrusted SRS under --allow-insecure-srs), `warning`;
        returns them as the JSON document shows them."""
        for check in checks:
            self.say(f"{indent}{check_status(check)}  {check}")
        return check_documents(checks)

    def finish(self, exit_code: int) -> int:
        """Prints the JSON document (once) and passes the exit code through."""
        if self.json_mode and not self._finished:
            document: dict[str, Any] = {"ok": exit_code == 0, "exit_code": exit_code}
            document.update(self._fields)
            if self._errors:
                document["errors"] = self._errors
            print(json.dumps(document, indent=2, default=str))
        self._finished = True
        return exit_code


def output_of(args: argparse.Namespace) -> CommandOutput:
    """The command's output, made on first use from its `--json` flag."""
    output = getattr(args, _ATTRIBUTE, None)
    if output is None:
        output = CommandOutput(bool(getattr(args, "json", False)))
        setattr(args, _ATTRIBUTE, output)
    return output


def check_status(check: str) -> str:
    return "warning" if isinstance(check, WarningCheck) else "ok"


def check_documents(checks: Iterable[str]) -> list[Mapping[str, str]]:
    return [{"status": check_status(check), "check": check} for check in checks]


def tensor_documents(tensors: Iterable[NamedTensor]) -> list[Mapping[str, Any]]:
    """Tensors as the JSON documents show them: name, OIP datatype, shape, values row-major."""
    return [
        {
            "name": t.name,
            "datatype": t.datatype,
            "shape": list(t.array.shape),
            "values": t.array.ravel().tolist(),
        }
        for t in tensors
    ]
