"""Subcommands of the `zkgate` command that cost nothing until they are run.

`zkgate --help` builds a parser holding every installed subcommand. If each subcommand's module
imported its handler's dependencies (grpc, numpy, ezkl, onnxruntime, torch), every run would
pay for all of them: 1.9 s on a full install, where the light client takes 0.2 s. So a
subcommand names its handler, and if need be its argument builder, by a "module:function"
reference that is imported only when that subcommand is parsed or run.

It lives in the kernel because every side's command plugin (client, gateway, prover, pol) uses
it and the kernel is the one layer they may all import.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def resolve(reference: str) -> Any:
    """The object a "package.module:attribute" reference names, importing its module."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def lazy_handler(reference: str) -> Handler:
    """A handler for `set_defaults(func=...)` that imports the real one when it is called."""

    def run(args: argparse.Namespace) -> int:
        return int(resolve(reference)(args))

    run.__qualname__ = run.__name__ = f"lazy_handler({reference})"
    return run


class DeferringArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose arguments may come from a builder imported only when the parser
    itself parses: the subcommand chosen on the command line loads its own, the others never.
    Subparsers take their parent's class, so a tree built from one defers throughout."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deferred: list[str] = []

    def load_deferred(self) -> None:
        while self.deferred:
            resolve(self.deferred.pop(0))(self)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self.load_deferred()
        return super().parse_known_args(args, namespace)


def defer_arguments(parser: argparse.ArgumentParser, reference: str) -> None:
    """Adds the arguments of the builder `reference` names ("module:function", called with the
    parser) when the parser parses; at once if it is a plain ArgumentParser."""
    if isinstance(parser, DeferringArgumentParser):
        parser.deferred.append(reference)
    else:
        resolve(reference)(parser)


def load_everything(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Loads every deferred argument of the whole tree: for what reads the parser without
    parsing (shell completion, a check that every option has help)."""
    if isinstance(parser, DeferringArgumentParser):
        parser.load_deferred()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                load_everything(sub)
    return parser


def subparsers_of(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every parser in the tree by its command path ("zkgate models add"), the root included."""
    found = {parser.prog: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.update(subparsers_of(sub))
    return found
