"""The `zkgate` command: one module per command group, assembled in main.py."""
