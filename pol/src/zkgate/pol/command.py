"""`zkgate pol`'s entry in the `zkgate` command (the `zkgate.cli` entry point).

Every `zkgate` run registers it, and zkgate.pol.cli imports torch: so only the name and help
are registered here, and zkgate.pol.cli builds the subcommands when `pol` is the command
(zkgate.core.command_loading). `zkgate --help` on a full install starts as fast as on the light
client.
"""

from __future__ import annotations

from typing import Any

from zkgate.core.command_loading import defer_arguments


def register_commands(commands: Any) -> None:
    pol = commands.add_parser("pol", help="proof-of-learning: calibrate, record, verify, dispute")
    defer_arguments(pol, "zkgate.pol.cli:add_pol_commands")
