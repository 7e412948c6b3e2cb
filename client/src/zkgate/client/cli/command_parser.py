"""The parser class of the `zkgate` command: subcommands load lazily
(zkgate.core.command_loading) and every option's help shows its default."""

from __future__ import annotations

import argparse
from typing import Any

from zkgate.core.command_loading import DeferringArgumentParser

# Defaults that say nothing worth printing: the option is off or unset unless given.
_SILENT_DEFAULTS: tuple[object, ...] = (None, False, "", [], argparse.SUPPRESS)


class DefaultsShownFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help unless the help already speaks of its
    default or there is none to speak of; unlike argparse's ArgumentDefaultsHelpFormatter it
    does not print "(default: None)" or repeat a default the text explains."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            not action.option_strings
            or "default" in text
            or any(
                action.default is silent or action.default == silent for silent in _SILENT_DEFAULTS
            )
        ):
            return text
        return f"{text} (default: %(default)s)"


class CommandParser(DeferringArgumentParser):
    """Subparsers take this class from their parent, and with it the formatter."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsShownFormatter)
        super().__init__(*args, **kwargs)
