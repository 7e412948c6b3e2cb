"""`zkgate completion`'s arguments; the handler is zkgate.client.cli.completion."""

from __future__ import annotations

from typing import Any

from zkgate.core.command_loading import lazy_handler

SHELLS = ("bash", "zsh")


def add_completion_command(subparsers: Any) -> None:
    completion = subparsers.add_parser(
        "completion",
        help="print a shell completion script (bash or zsh)",
        description="Prints a static completion script for the installed subcommands. bash: "
        "`source <(zkgate completion bash)` in ~/.bashrc; zsh: `zkgate completion zsh > "
        '"${fpath[1]}/_zkgate"`. Regenerate it after installing another zkgate package.',
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    completion.set_defaults(func=lazy_handler("zkgate.client.cli.completion:cmd_completion"))
