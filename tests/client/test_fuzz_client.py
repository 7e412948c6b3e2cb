"""Every parser and verification entry point of the client, fed hostile documents, raises only
its documented error (fuzz/entry_points.py lists them, with the reason for each).

Documents start from real ones (fuzz/seeds.py: a real circuit's bundle and proof, a signed
prediction, statements, a certificate and a retrieval result carrying real proofs, a
proof-of-learning archive, the digits example's .npy files) and are then edited the way an
attacker would: a field replaced by a value of another type, a huge or non-finite number, an
empty list, a deletion, a wrapping; truncated; bytes flipped; nested 100,000 deep; not an object
at all. A failing example is a bug in the entry point named in the test id (its owning file is
EntryPoint.owner); the report shows the shrunk input.

Settings come from the hypothesis profile (tests/fixtures/fuzz_fixtures.py): HYPOTHESIS_PROFILE=
long for a longer run.
"""

from __future__ import annotations

import contextlib
import json
import math
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz.entry_points import BY_NAME, ENTRY_POINTS, EntryPoint
from fuzz.hostile import json_paths
from fuzz.seeds import Seeds
from zkgate.core.tensors import NamedTensor, TensorError

# Entry points that rebuild a circuit or check several proofs per call get fewer examples.
SLOW = {"verify_retrieval", "verify_retrieval_dataset"}
_FEW = max(5, settings.default.max_examples // 4)

HUGE_INTEGERS = [2**31, 2**32, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**30, 10**400]


def hostile_json() -> st.SearchStrategy[Any]:
    """Any JSON value, weighted towards the ones parsers mishandle."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([*HUGE_INTEGERS, -1, 0]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from(["", "0", "big", "²", "NaN", "00" * 32, "zz" * 32, "\ud800"]),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=8,
    )


def _edit(root: Any, path: tuple[Any, ...], operation: str, new: Any) -> Any:
    if not path:
        return new if operation != "wrap" else [root]
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    if operation == "delete":
        del parent[path[-1]]
    elif operation == "wrap":
        parent[path[-1]] = [parent[path[-1]]]
    else:
        parent[path[-1]] = new
    return root


@st.composite
def mutated_json(draw: st.DrawFn, seed: bytes) -> bytes:
    """The seed document with one to three fields replaced, deleted or wrapped in a list."""
    value = json.loads(seed)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(json_paths(value)))
        operation = draw(st.sampled_from(["replace", "replace", "delete", "wrap"]))
        value = _edit(value, path, operation, draw(hostile_json()))
    return json.dumps(value, allow_nan=True).encode()


@st.composite
def flipped_bytes(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] ^= draw(st.integers(1, 255))
    return bytes(data)


@st.composite
def deeply_nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.sampled_from([65, 1000, 100_000]))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
    return opener * depth + b"1" + closer * depth


def hostile_documents(seed: bytes) -> st.SearchStrategy[bytes]:
    """Edits of a real document, and documents that are barely documents at all."""
    try:
        json.loads(seed)
        structural = [mutated_json(seed), mutated_json(seed)]
    except (ValueError, UnicodeDecodeError):
        structural = []
    return st.one_of(
        *structural,
        st.integers(0, max(0, len(seed) - 1)).map(lambda n: seed[:n]),
        flipped_bytes(seed),
        deeply_nested(),
        hostile_json().map(lambda v: json.dumps(v, allow_nan=True).encode()),
        st.binary(max_size=256),
    )


def call(entry: EntryPoint, document: bytes, seeds: Seeds) -> None:
    """Passes if the entry point accepts the document or raises a documented error; any other
    exception propagates and fails the test with the input that caused it."""
    with contextlib.suppress(entry.documented):
        entry.call(document, seeds)


FAST = [e.name for e in ENTRY_POINTS if e.name not in SLOW]


@pytest.mark.parametrize("name", FAST)
@given(data=st.data())
def test_entry_point_raises_only_documented_errors(
    name: str, data: st.DataObject, fuzz_seeds: Seeds
) -> None:
    entry = BY_NAME[name]
    seed = fuzz_seeds.documents[data.draw(st.sampled_from(entry.seeds), label="seed")]
    call(entry, data.draw(hostile_documents(seed), label="document"), fuzz_seeds)


@pytest.mark.parametrize("name", sorted(SLOW))
@settings(max_examples=_FEW)
@given(data=st.data())
def test_slow_entry_point_raises_only_documented_errors(
    name: str, data: st.DataObject, fuzz_seeds: Seeds
) -> None:
    entry = BY_NAME[name]
    seed = fuzz_seeds.documents[data.draw(st.sampled_from(entry.seeds), label="seed")]
    call(entry, data.draw(hostile_documents(seed), label="document"), fuzz_seeds)


# Documents that have each crashed a parser in the past (issue 12), given to every entry point
# whatever the random draw: deep nesting, a top level that is not an object, nothing, a
# truncation, and JSON's non-standard constants.
CLASSIC = {
    "nested-100000": b"[" * 100_000 + b"]" * 100_000,
    "list": b"[]",
    "number": b"1e999",
    "string": b'"card"',
    "null": b"null",
    "empty": b"",
    "nan": b'{"format": NaN}',
}


@pytest.mark.parametrize("document", CLASSIC.values(), ids=list(CLASSIC))
@pytest.mark.parametrize("name", [e.name for e in ENTRY_POINTS])
def test_classic_hostile_documents(name: str, document: bytes, fuzz_seeds: Seeds) -> None:
    call(BY_NAME[name], document, fuzz_seeds)


@pytest.mark.parametrize("name", [e.name for e in ENTRY_POINTS])
def test_seed_documents_are_accepted_or_refused_cleanly(name: str, fuzz_seeds: Seeds) -> None:
    """The unmutated seeds themselves: the baseline every mutation starts from."""
    entry = BY_NAME[name]
    for seed in entry.seeds:
        call(entry, fuzz_seeds.documents[seed], fuzz_seeds)


DATATYPES = ["BOOL", "UINT8", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES", "fp32", ""]


@given(
    datatype=st.sampled_from(DATATYPES),
    shape=st.one_of(
        st.lists(st.integers(0, 4), max_size=4),
        st.lists(st.sampled_from([0, 1, 2**31, 2**32, 2**62, 2**63 - 1]), max_size=4),
        st.lists(st.integers(-(2**64), 2**64), max_size=3),
        st.integers(65, 80).map(lambda n: [1] * n),
    ),
    data=st.binary(max_size=64),
)
def test_tensor_from_raw_raises_only_tensor_error(
    datatype: str, shape: list[int], data: bytes
) -> None:
    """Shapes an attacker writes: dimensions past 2^63, products that wrap to zero in int64,
    ranks past numpy's 64, negative dimensions."""
    try:
        tensor = NamedTensor.from_raw("t", datatype, shape, data)
    except TensorError:
        return
    assert math.prod(shape) * tensor.array.itemsize == len(data)


# Every field of every seed document replaced, one at a time, by each of these: the wrong types
# and numbers that broke parsers before (issue 12). Deterministic, so CI always tries them.
FIELD_VALUES: list[Any] = [None, "big", [], [[]], -1, 2**64, 10**400, math.nan]
MAX_FIELDS = 50


def _field_edits(seed: bytes) -> Iterator[tuple[str, bytes]]:
    try:
        value = json.loads(seed)
    except (ValueError, UnicodeDecodeError):
        return
    for path in json_paths(value)[:MAX_FIELDS]:
        for new in FIELD_VALUES:
            edited = _edit(json.loads(seed), path, "replace", new)
            yield f"{'/'.join(map(str, path))} = {new!r:.20}", json.dumps(edited).encode()


@pytest.mark.parametrize("name", FAST)
def test_every_field_with_hostile_values(name: str, fuzz_seeds: Seeds) -> None:
    """Collects every distinct undocumented failure (exception type and where it was raised)
    of the entry point over all the edits, and reports them together with one edit each."""
    entry = BY_NAME[name]
    failures: dict[tuple[str, str], str] = {}
    for seed in entry.seeds:
        for edit, document in _field_edits(fuzz_seeds.documents[seed]):
            try:
                call(entry, document, fuzz_seeds)
            except Exception as exc:
                frames = traceback.extract_tb(exc.__traceback__)
                where = next(
                    (f"{f.filename.split('/zkgate/')[-1]}:{f.lineno}" for f in reversed(frames)
                     if "/zkgate/" in f.filename),
                    "?",
                )  # fmt: skip
                failures.setdefault(
                    (type(exc).__name__, where), f"{seed}: {edit}: {str(exc)[:160]}"
                )
    assert not failures, "\n".join(
        f"{kind} at {where} <- {example}" for (kind, where), example in failures.items()
    )


REGRESSIONS = sorted((Path(__file__).parents[2] / "fuzz" / "regressions").glob("*.input"))


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.stem)
def test_inputs_that_once_crashed_an_entry_point_raise_only_documented_errors(
    path: Path, fuzz_seeds: Seeds
) -> None:
    """Every undocumented exception the coverage-guided run found (fuzz/regressions, named
    `<entry>-<exception>-<digest>.input`), replayed through the entry point it crashed."""
    entry = BY_NAME[path.name.split("-", 1)[0]]
    call(entry, path.read_bytes(), fuzz_seeds)
