"""The arguments of each client subcommand, in modules that import no handler: building the
whole `zkgate` parser must cost no more than argparse itself (see zkgate.core.command_loading).
Each names its handler by a "module:function" reference, imported when the command runs."""
