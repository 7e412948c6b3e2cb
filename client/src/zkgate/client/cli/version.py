"""`zkgate --version`: the versions of the installed zkgate distributions and of ezkl, whose
version a verifier must match (a card names the ezkl it was committed under). Read from the
installed metadata: nothing is imported."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

DISTRIBUTIONS = ("zkgate-client", "zkgate-gateway", "zkgate-prover", "zkgate-pol", "ezkl")


def installed_versions() -> dict[str, str]:
    found = {}
    for name in DISTRIBUTIONS:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


class VersionAction(argparse.Action):
    """`--version` prints one line per installed distribution (or, after `--json`, one JSON
    object) and exits 0."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "print the installed zkgate packages' versions and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        versions = installed_versions()
        if getattr(namespace, "json", False):
            print(json.dumps({"ok": True, "exit_code": 0, "versions": versions}, indent=2))
        else:
            for name, number in versions.items():
                print(f"{name} {number}")
        parser.exit(0)
