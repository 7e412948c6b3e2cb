"""The house's rules (docs/architecture.md), checked on the source: which layer may import which,
no import circles, a kernel that loads without grpc or ezkl, and stage-sized files.

Imports are read with `ast`, inside functions too: an import deferred to call time still ties
the two modules together, and a circle through one still means neither can be understood alone.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = ("client/src", "gateway/src", "prover/src", "pol/src")

# Which layers each layer may import (itself always). The generated zkgate.wire is protobuf only.
ALLOWED = {
    "core": {"wire"},
    "client": {"core", "wire"},
    "prover": {"core"},
    "gateway": {"core", "wire", "prover"},
    "pol": {"core"},
}
# Crossings that are the point of the module that makes them.
PERMITTED_CROSSINGS = {
    # `zkgate pol` is a command group of the `zkgate` command: it takes the client's connection
    # flags and exit codes.
    ("zkgate.pol.cli", "client"),
    # A registration that carries a proof-of-learning is verified on the prover, which imports
    # the verifier at call time only (the `learning` extra brings torch).
    ("zkgate.prover.worker.learning_check", "pol"),
}
MAX_MODULE_LINES = 410
MAX_FUNCTION_LINES = 60


@dataclass(frozen=True)
class Module:
    name: str
    path: Path

    @property
    def layer(self) -> str:
        return self.name.split(".")[1]


def _modules() -> dict[str, Module]:
    found = {}
    for root in SOURCE_ROOTS:
        base = REPO / root
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join(parts)
            if not name.startswith("zkgate.wire"):
                found[name] = Module(name, path)
    return found


MODULES = _modules()


def _imported(module: Module) -> Iterator[str]:
    for node in ast.walk(ast.parse(module.path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _edges() -> dict[str, set[str]]:
    return {
        name: {
            target
            for target in _imported(module)
            if target != name and (target in MODULES or target.startswith("zkgate.wire"))
        }
        for name, module in MODULES.items()
    }


EDGES = _edges()


def test_the_source_is_found() -> None:
    assert {m.layer for m in MODULES.values()} == set(ALLOWED)
    assert len(MODULES) > 150


def test_layers_import_only_what_they_build_on() -> None:
    crossings = sorted(
        f"{name} imports {target}"
        for name, targets in EDGES.items()
        for target in targets
        if (layer := target.split(".")[1]) != MODULES[name].layer
        and layer not in ALLOWED[MODULES[name].layer]
        and (name, layer) not in PERMITTED_CROSSINGS
    )
    assert crossings == []


def test_no_import_circles() -> None:
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(EDGES.get(name, ())):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(MODULES):
        if name not in state:
            visit(name)
    assert circles == []


def _loaded_by_importing(prefix: str) -> set[str]:
    """Every module a fresh interpreter holds after importing each module under `prefix` (this
    test process may have loaded anything already)."""
    names = sorted(name for name in MODULES if name.startswith(prefix))
    code = "; ".join(f"import {name}" for name in names) + (
        "; import sys; print(' '.join(sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return set(out.split())


def _under(loaded: set[str], *prefixes: str) -> list[str]:
    return sorted(m for m in loaded if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_the_kernel_loads_without_grpc_or_ezkl() -> None:
    loaded = _loaded_by_importing("zkgate.core")
    assert _under(loaded, "grpc", "ezkl", "torch", "onnxruntime") == []


def test_the_gateway_loads_without_ezkl_or_the_client() -> None:
    """A gateway serves with onnxruntime and leaves proving to provers: its image need not
    carry ezkl's native library, torch, or the client SDK."""
    loaded = _loaded_by_importing("zkgate.gateway")
    assert "zkgate.gateway.server" in loaded
    assert _under(loaded, "ezkl", "torch", "zkgate.client", "zkgate.pol") == []


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_files_and_functions_are_stage_sized(layer: str) -> None:
    oversized = []
    for module in MODULES.values():
        if module.layer != layer:
            continue
        text = module.path.read_text()
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            oversized.append(f"{module.name}: {lines} lines")
        oversized += [
            f"{module.name}.{node.name}: {length} lines"
            for node in _functions(ast.parse(text))
            if (length := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES
        ]
    assert oversized == []
