"""Structure-aware mutation of JSON documents: the values an attacker would write into a field.

Shared by the atheris custom mutator (fuzz/harness.py); the property tests use hypothesis
strategies of the same kinds (tests/client/test_fuzz_client.py).
"""

from __future__ import annotations

import json
import random
from typing import Any

# Values that have each broken a parser somewhere: wrong types, huge and non-finite numbers,
# empty containers, strings that look like numbers or digests, and non-ASCII digits.
HOSTILE_VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1,
    2**31,
    2**32,
    2**63,
    2**64,
    -(2**63) - 1,
    10**400,
    0.5,
    -0.0,
    1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    "",
    "0",
    "big",
    "²",
    "١٢",
    "NaN",
    "Infinity",
    "00" * 32,
    "ff" * 32,
    "zz" * 32,
    "\u0000",
    "\ud800",
    "x" * 4096,
    [],
    [[]],
    [None],
    [2**64],
    [-1],
    [2**32, 2**32],
    [1] * 65,
    {},
    {"": None},
    {"format": None},
)


def hostile_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.7 or depth > 2:
        return rng.choice(HOSTILE_VALUES)
    if roll < 0.85:
        return [hostile_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(("a", "format", "body", "data")): hostile_value(rng, depth + 1)}


def json_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if len(path) > 32:  # a document this deep is mutated at its upper levels only
        return found
    if isinstance(value, dict):
        for key, item in value.items():
            found += json_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:16]):
            found += json_paths(item, (*path, index))
    return found


def _replace(root: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = new
    return root


def _delete(root: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return root
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return root


def mutate_json(value: Any, rng: random.Random) -> Any:
    """One edit at a random node: a hostile value, a deletion, a wrapping in a list or an
    object, a duplicated list item, or a number shifted to a neighbour."""
    path = rng.choice(json_paths(value))
    parent: Any = value
    for step in path:
        parent = parent[step]
    roll = rng.random()
    if roll < 0.45:
        return _replace(value, path, hostile_value(rng))
    if roll < 0.6 and path:
        return _delete(value, path)
    if roll < 0.7:
        return _replace(value, path, [parent])
    if roll < 0.75:
        return _replace(value, path, {"value": parent})
    if roll < 0.85 and isinstance(parent, list) and parent:
        return _replace(value, path, [*parent, parent[-1]] if rng.random() < 0.5 else parent[1:])
    if isinstance(parent, bool):
        return _replace(value, path, not parent)
    if isinstance(parent, int):
        return _replace(value, path, parent + rng.choice((-1, 1, 2**32, -(2**32))))
    if isinstance(parent, str) and parent:
        cut = rng.randrange(len(parent))
        return _replace(value, path, parent[:cut] + rng.choice(("", "0", "g", "²")))
    return _replace(value, path, hostile_value(rng))


def mutate_document(data: bytes, rng: random.Random) -> bytes | None:
    """A JSON document edited at one to three nodes; None when `data` is not JSON."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    try:
        for _ in range(rng.randrange(1, 4)):
            value = mutate_json(value, rng)
        text = json.dumps(value, allow_nan=True).encode("utf-8", errors="surrogatepass")
    except (RecursionError, ValueError):
        return None
    if rng.random() < 0.03:
        depth = rng.choice((65, 1000, 100_000))
        return b"[" * depth + text + b"]" * depth
    return text
