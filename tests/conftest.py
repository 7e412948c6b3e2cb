"""Shared fixtures live in tests/fixtures/*_fixtures.py, one module per area; all are loaded here.

Heavy fixtures (registered circuits, running gateways) are session-scoped: each circuit is built
once per test run.
"""

from pathlib import Path

import pytest

pytest_plugins = sorted(
    f"tests.fixtures.{module.stem}"
    for module in (Path(__file__).parent / "fixtures").glob("*_fixtures.py")
)
# Fixture modules import one another; marking them all first keeps their asserts rewritten
# whichever is imported first.
pytest.register_assert_rewrite(*pytest_plugins)
