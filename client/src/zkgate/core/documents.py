"""One bounded, typed way in for every JSON document that comes from someone else.

Cards, proofs, receipts, settings, evidence bundles, certificates, retrieval results and
manifests all arrive from a party the reader does not trust. Python's `json` has no size or
depth limit (a document of 100,000 `[` raises RecursionError), accepts `NaN` and `Infinity`,
and hands back whatever type the document holds, so each format used to find its own way to an
IndexError or an AttributeError. Here the limits are checked before parsing and every field is
read through a typed accessor that raises `DocumentError`, naming the document and the field;
each format wraps that in its own documented error.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

# A proof is a few KB, an accuracy certificate with 150 proofs a few MB; a retrieval result
# carrying every proof of a large answer is the biggest legitimate document.
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024
# The deepest legitimate document (ezkl settings) nests fewer than 10 levels.
MAX_DOCUMENT_DEPTH = 64
# An error message quotes at most this much of a value it did not like.
QUOTE_LIMIT = 80

# A JSON string, or an unterminated one up to the end. Possessive: with backtracking, a document
# of `["` and 65,000 `\"` took 45 s (every escaped quote restarted a scan to the end).
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_OPENING = frozenset(b"[{")
# A lone UTF-16 surrogate escape (\ud800 not followed by its pair) parses into a str that no
# UTF-8 encoder takes; escapes of this range are rare, so only documents holding one are checked.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LARGEST_FLOAT_INTEGER = 2**1023

T = TypeVar("T")


class DocumentError(ValueError):
    """A document that is not what its reader needs: too large, too deep, not JSON, or a field
    missing or of the wrong type. The message names the document and the field."""


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """repr(value), cut to `limit` characters: error messages quote untrusted values, and an
    echoed megabyte helps nobody (and overflows gRPC's metadata limit)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _nesting_depth(data: bytes) -> int:
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRING.sub(b'""', data)):
        if match.group()[0] in _OPENING:
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(
    data: bytes | str,
    *,
    what: str,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    max_depth: int = MAX_DOCUMENT_DEPTH,
) -> Any:
    """The JSON value in `data`, or DocumentError. NaN and infinities are refused: no zkgate
    format has them, and a reader comparing against one would compare against nothing."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise DocumentError(f"{what} is {len(raw):,} bytes, more than the {max_bytes:,} allowed")
    depth = _nesting_depth(raw)
    if depth > max_depth:
        raise DocumentError(f"{what} nests {depth} levels deep, more than the {max_depth} allowed")
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
        if _SURROGATE_ESCAPE.search(raw):
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        return value
    except RecursionError:  # depth is checked above; this is the interpreter's own limit
        raise DocumentError(f"{what} nests too deeply to read") from None
    except UnicodeEncodeError as exc:
        raise DocumentError(
            f"{what} holds a lone UTF-16 surrogate escape, which is not text"
        ) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise DocumentError(f"{what} is not valid JSON (truncated?): {exc}") from exc


def parse_object(data: bytes | str, *, what: str, max_bytes: int = MAX_DOCUMENT_BYTES) -> Fields:
    """A document whose top level must be a JSON object."""
    return Fields.of(parse_json(data, what=what, max_bytes=max_bytes), what=what)


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


class Fields:
    """Typed, named access to one JSON object. Every accessor either returns a value of the
    type it names or raises DocumentError saying which field of which document is wrong."""

    def __init__(self, raw: dict[str, Any], *, what: str) -> None:
        self.raw = raw
        self.what = what

    @classmethod
    def of(cls, value: object, *, what: str) -> Fields:
        if not isinstance(value, dict):
            raise DocumentError(f"{what} must be a JSON object, not {_type_name(value)}")
        return cls(value, what=what)

    def fail(self, key: str, detail: str) -> NoReturn:
        raise DocumentError(f"{self.what}: `{key}` {detail}")

    def __contains__(self, key: str) -> bool:
        return key in self.raw

    def keys(self) -> Iterator[str]:
        return iter(self.raw)

    def _get(self, key: str, check: Callable[[Any], bool], want: str) -> Any:
        if key not in self.raw:
            self.fail(key, f"is missing (want {want})")
        value = self.raw[key]
        if not check(value):
            self.fail(key, f"must be {want}, not {_type_name(value)} {quote(value)}")
        return value

    def _optional(self, key: str, read: Callable[[str], T]) -> T | None:
        return None if self.raw.get(key) is None else read(key)

    def any(self, key: str) -> Any:
        return self._get(key, lambda _: True, "present")

    def text(self, key: str) -> str:
        value: str = self._get(key, lambda v: isinstance(v, str), "a string")
        return value

    def optional_text(self, key: str) -> str | None:
        return self._optional(key, self.text)

    def hex_bytes(self, key: str) -> bytes:
        """Bytes written as a hex string (signatures, nonces)."""
        text = self.text(key)
        try:
            return bytes.fromhex(text)
        except ValueError:
            self.fail(key, f"must be hex, not {quote(text)}")

    def base64_bytes(self, key: str) -> bytes:
        """Bytes written as standard base64 (tensor data); stray characters are refused, not
        skipped, so that one document has one reading."""
        text = self.text(key)
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            self.fail(key, f"must be base64, not {quote(text)}")

    def boolean(self, key: str) -> bool:
        value: bool = self._get(key, lambda v: isinstance(v, bool), "true or false")
        return value

    def integer(self, key: str) -> int:
        value: int = self._get(key, is_integer, "an integer")
        return value

    def count(self, key: str) -> int:
        value: int = self._get(key, lambda v: is_integer(v) and v >= 0, "a non-negative integer")
        return value

    def optional_count(self, key: str) -> int | None:
        return self._optional(key, self.count)

    def number(self, key: str) -> float:
        """A finite number (JSON int or float), as a float."""
        return float(self._get(key, is_finite_number, "a finite number"))

    def optional_number(self, key: str) -> float | None:
        return self._optional(key, self.number)

    def array(self, key: str) -> list[Any]:
        value: list[Any] = self._get(key, lambda v: isinstance(v, list), "a list")
        return value

    def texts(self, key: str) -> list[str]:
        return self._get(key, lambda v: _all_of_type(v, str), "a list of strings")  # type: ignore[no-any-return]

    def counts(self, key: str) -> list[int]:
        return self._get(  # type: ignore[no-any-return]
            key,
            lambda v: isinstance(v, list) and all(is_integer(d) and d >= 0 for d in v),
            "a list of non-negative integers",
        )

    def object(self, key: str) -> Fields:
        return Fields(
            self._get(key, lambda v: isinstance(v, dict), "an object"), what=f"{self.what}.{key}"
        )

    def optional_object(self, key: str) -> Fields | None:
        return self._optional(key, self.object)

    def objects(self, key: str) -> list[Fields]:
        items = self._get(key, lambda v: _all_of_type(v, dict), "a list of objects")
        return [Fields(item, what=f"{self.what}.{key}[{i}]") for i, item in enumerate(items)]

    def string_map(self, key: str) -> dict[str, str]:
        return self._get(  # type: ignore[no-any-return]
            key,
            lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
            "an object of strings",
        )

    def only(self, *allowed: str) -> Fields:
        """Refuses keys outside `allowed`: for formats where an unknown field is a sign of a
        document meant for another reader, not extra information to ignore."""
        unknown = sorted(set(self.raw) - set(allowed))
        if unknown:
            raise DocumentError(f"{self.what}: unknown field(s) {quote(unknown)}")
        return self


def _all_of_type(value: object, kind: type) -> bool:
    return isinstance(value, list) and all(isinstance(item, kind) for item in value)


def is_integer(value: object) -> bool:
    """An integer as parsed JSON gives it: not a bool (an int subclass), not a float."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_finite_number(value: object) -> bool:
    """A JSON number a float can hold: an integer past 2^1023 would overflow float()."""
    if is_integer(value):
        return abs(value) < _LARGEST_FLOAT_INTEGER  # type: ignore[arg-type]
    return isinstance(value, float) and math.isfinite(value)


D = TypeVar("D")


def read_dataclass(cls: type[D], fields: Fields) -> D:
    """An instance of the frozen dataclass `cls` read field by field at its annotated types
    (str, int, float, bool, their lists, dict[str, str], nested dataclasses, `X | None`), so a
    format declared as a dataclass is also its schema. A missing field takes its declared
    default; an unknown one is refused, since it means a document written for another reader."""
    hints = typing.get_type_hints(cls)
    declared = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    fields.only(*declared)
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in fields:
            values[name] = _read_typed(hints[name], fields, name)
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            fields.fail(name, "is missing")
    return cls(**values)


def _read_typed(hint: Any, fields: Fields, key: str) -> Any:
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union) and type(None) in arguments:
        (inner,) = (a for a in arguments if a is not type(None))
        return None if fields.raw[key] is None else _read_typed(inner, fields, key)
    if dataclasses.is_dataclass(hint):
        return read_dataclass(hint, fields.object(key))  # type: ignore[arg-type]
    if origin is list and dataclasses.is_dataclass(arguments[0]):
        return [read_dataclass(arguments[0], item) for item in fields.objects(key)]  # type: ignore[arg-type]
    readers: dict[Any, Callable[[str], Any]] = {
        str: fields.text,
        int: fields.integer,
        float: fields.number,
        bool: fields.boolean,
        list[str]: fields.texts,
        list[int]: fields.counts,
        dict[str, str]: fields.string_map,
    }
    if hint not in readers:
        raise TypeError(f"{hint!r} has no document reader")  # a programming error, not input
    return readers[hint](key)
