"""The filter grammar: which memories a search, a list, an export or a bulk delete applies to.

A filter is a JSON object, compiled once per request (`compile_filter`) into a `Filter`: a predicate
over `Memory` that every path evaluates (a resident user's records, a partially resident user's store
scan, a cluster replica's copy), so one filter selects the same memories wherever the user lives. A
bad clause is refused with a 422 naming its JSON path (`filters.$or[1].kind.$gt`), never ignored.

Grammar (mongo-like, as mem0 and Chroma filters):

- `{"kind": "health", "lang": "en"}`: every entry must hold; a plain value means `$eq`.
- `{"kind": {"$in": ["a", "b"]}, "created_at": {"$gte": 1700000000}}`: an object of operators, all of
  which must hold: `$eq $ne $in $nin $gt $gte $lt $lte $exists`, and `$not` (an operator object, or a
  plain value).
- `{"$and": [f, ...]}`, `{"$or": [f, ...]}` (non-empty lists of filters), `{"$not": f}`.

Names: `created_at`, `updated_at`, `expires_at`, `agent_id` and `run_id` (its `Scope`, which reads as the
filter `{"agent_id": a, "run_id": r}` of its set parts) are the memory's own fields; any other name is a
top-level metadata key. A name starting with `$` is an operator (unknown: 422).

Values and their comparison:

- A name is *missing* when the metadata has no such key, or the field is null (`expires_at` of a memory
  that never expires, an unset `agent_id`); `updated_at` is never missing (`created_at` until an update).
- `$eq v` (v a string, number, boolean or null): the value has v's type and equals it. Numbers compare
  by value (1 equals 1.0); booleans are not numbers; objects and arrays equal nothing. `$eq null`
  matches a missing name or a null value (as filters always did). `$ne v` is exactly "not `$eq v`", so
  `{"kind": {"$ne": "a"}}` also matches memories without `kind`. `$in` is any of `$eq`, `$nin` none.
- `$gt $gte $lt $lte v` (v a number or a string; anything else is a 422): true only when the value has
  the same type (numbers with numbers, strings with strings by code point); a missing name, null, or a
  value of another type never matches (no error: metadata is schemaless). On the time fields v is Unix
  seconds, or an ISO 8601 string (with a zone, or UTC) converted to Unix seconds.
- `$exists true`: the metadata key is present (even as null), or the field is not null; `false` the
  opposite.

Bounds (settings): `JM_MAX_FILTER_DEPTH` nested objects, `JM_MAX_FILTER_CLAUSES` comparisons in all
(each `$in` element counts; an empty filter, `{}`, selects everything and is folded away, costing
nothing), `JM_MAX_FILTER_KEYS` entries per object, names at most `JM_MAX_KEY_CHARS` characters, string
values at most `JM_MAX_METADATA_BYTES` characters.

Metadata keys starting with `$` cannot be filtered on (such a name is read as an operator); before this
grammar, `{"$k": v}` compared the key `$k`, and `true` equalled `1` (Python's comparison, now JSON's).
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jean_memory import jsonutil
from jean_memory.config import Settings
from jean_memory.errors import Invalid
from jean_memory.memory import JsonObject, Memory

#: The memory's own fields a filter may name (any other name is a metadata key).
FIELDS = ("created_at", "updated_at", "expires_at", "agent_id", "run_id")
TIME_FIELDS = frozenset({"created_at", "updated_at", "expires_at"})
COMPARISONS = ("$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists", "$not")
LOGICAL = ("$and", "$or", "$not")

#: Past this, an integer is not a float any more (and no stored JSON number can equal it).
MAX_INTEGER = 2**1023

#: What a name reads as on a memory: MISSING when absent (a metadata key not there, a null field).
MISSING: Any = object()

Predicate = Callable[[Memory], bool]


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds one filter must keep (from the settings)."""

    max_depth: int = 8
    max_clauses: int = 256
    max_keys: int = 32
    max_key_chars: int = 256
    max_value_chars: int = 8192

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            max_depth=settings.max_filter_depth,
            max_clauses=settings.max_filter_clauses,
            max_keys=settings.max_filter_keys,
            max_key_chars=settings.max_key_chars,
            max_value_chars=settings.max_metadata_bytes,
        )


class FilterError(Invalid):
    """A filter clause the grammar refuses; `field` is its JSON path."""


@dataclass(slots=True)
class Filter:
    """A compiled filter: `matches(memory)`, the canonical JSON it came from (for cache keys), and an SQL
    condition every matching row satisfies (`sql`, `params`): a pre-filter for a store scan, never the
    final word (rows it lets through are checked by `matches`)."""

    matches: Predicate
    canonical: bytes
    sql: str = "1"
    params: list[Any] = field(default_factory=list)

    def select(self, memories: Sequence[Memory]) -> list[Memory]:
        return [m for m in memories if self.matches(m)]


#: How each of `FIELDS` reads on a memory (None: missing).
_FIELD_VALUES: dict[str, Callable[[Memory], Any]] = {
    "created_at": lambda m: m.created_at,
    "updated_at": lambda m: m.updated_at if m.updated_at is not None else m.created_at,
    "expires_at": lambda m: m.expires_at,
    "agent_id": lambda m: m.agent_id,
    "run_id": lambda m: m.run_id,
}
#: The fields stored as columns of their own that equality may pre-filter on in SQL (indexed with the user).
SCOPE_COLUMNS = frozenset({"agent_id", "run_id"})


def value_of(memory: Memory, name: str) -> Any:
    """The value a filter compares for `name`: a field of the memory, or a top-level metadata key."""
    read = _FIELD_VALUES.get(name)
    if read is not None:
        found = read(memory)
        return MISSING if found is None else found
    return memory.metadata.get(name, MISSING)


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda a, b: bool(a > b),
    "$gte": lambda a, b: bool(a >= b),
    "$lt": lambda a, b: bool(a < b),
    "$lte": lambda a, b: bool(a <= b),
}
_SQL_ORDER = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_MAX_IN_SQL = 512  # the most values of a `$in` on a scope column put in the SQL pre-filter


def parse_time(text: str) -> float | None:
    """ISO 8601 as Unix seconds (a time without a zone is UTC), or None when it is not one."""
    text = text.upper()  # RFC 3339 allows `t` and `z`
    try:
        moment = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


@dataclass(slots=True)
class _Node:
    """One compiled clause: its predicate and an SQL superset of it ("1" when none is known); `const` when
    the clause is the same for every memory (an empty filter, and what `$not`/`$or` make of one)."""

    test: Predicate
    sql: str = "1"
    params: list[Any] = field(default_factory=list)
    const: bool | None = None


_ALL = _Node(lambda m: True, const=True)
_NONE = _Node(lambda m: False, "0", const=False)


class _Compiler:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.clauses = 0

    def fail(self, path: str, message: str) -> FilterError:
        return FilterError(f"{path}: {message}", field=path)

    def count(self, path: str, n: int = 1) -> None:
        self.clauses += n
        if self.clauses > self.limits.max_clauses:
            raise self.fail(path, f"more than {self.limits.max_clauses} clauses in all (JM_MAX_FILTER_CLAUSES)")

    def depth(self, path: str, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise self.fail(path, f"nested deeper than {self.limits.max_depth} (JM_MAX_FILTER_DEPTH)")

    # ---- filters: an object of names and logical operators, all of which must hold ----------------------
    def filter(self, raw: Any, path: str, depth: int) -> _Node:
        self.depth(path, depth)
        if not isinstance(raw, dict):
            raise self.fail(path, "must be an object")
        if len(raw) > self.limits.max_keys:
            raise self.fail(path, f"more than {self.limits.max_keys} keys (JM_MAX_FILTER_KEYS)")
        nodes: list[_Node] = []
        for key, value in raw.items():
            if not _unicode(key):
                raise self.fail(path, "a name must be valid Unicode (a lone surrogate)")
            at = f"{path}.{_short(key)}"
            if key.startswith("$"):
                nodes.append(self.logical(key, value, at, depth))
            else:
                if len(key) > self.limits.max_key_chars and key not in FIELDS:
                    raise self.fail(at, f"a name longer than {self.limits.max_key_chars} characters")
                nodes.append(self.condition(key, value, at, depth))
        return _conjunction(nodes)

    def logical(self, op: str, value: Any, path: str, depth: int) -> _Node:
        if op == "$not":
            inner = self.filter(value, path, depth + 1)
            if inner.const is not None:
                return _NONE if inner.const else _ALL
            return _Node(lambda m: not inner.test(m))
        if op not in ("$and", "$or"):
            raise self.fail(path, f"unknown operator {op!r} (expected one of {', '.join(LOGICAL)}, or a name)")
        if not isinstance(value, list) or not value:
            raise self.fail(path, "must be a non-empty list of filters")
        if len(value) > self.limits.max_clauses:
            raise self.fail(path, f"more than {self.limits.max_clauses} filters (JM_MAX_FILTER_CLAUSES)")
        parts = [self.filter(item, f"{path}[{n}]", depth + 1) for n, item in enumerate(value)]
        if op == "$and":
            return _conjunction(parts)
        if any(p.const is True for p in parts):
            return _ALL
        parts = [p for p in parts if p.const is not False]
        if not parts:
            return _NONE
        if len(parts) == 1:
            return parts[0]
        tests = [p.test for p in parts]
        if any(p.sql == "1" for p in parts):
            return _Node(lambda m: any(t(m) for t in tests))
        return _Node(
            lambda m: any(t(m) for t in tests),
            "(" + " OR ".join(f"({p.sql})" for p in parts) + ")",
            [x for p in parts for x in p.params],
        )

    # ---- one name's condition: a plain value ($eq) or an object of operators ---------------------------
    def condition(self, name: str, value: Any, path: str, depth: int) -> _Node:
        if isinstance(value, dict):
            self.depth(path, depth + 1)
            if not value:
                raise self.fail(path, "an empty operator object (name at least one operator)")
            if len(value) > self.limits.max_keys:
                raise self.fail(path, f"more than {self.limits.max_keys} keys (JM_MAX_FILTER_KEYS)")
            nodes = [
                self.operator(name, op, operand, f"{path}.{_short(op)}", depth + 1) for op, operand in value.items()
            ]
            return _conjunction(nodes)
        return self.operator(name, "$eq", value, path, depth)

    def operator(self, name: str, op: str, operand: Any, path: str, depth: int) -> _Node:
        if op not in COMPARISONS:
            raise self.fail(path, f"unknown operator {op!r} (expected one of {', '.join(COMPARISONS)})")
        self.count(path)
        if op == "$not":
            inner = self.condition(name, operand, path, depth)
            return _Node(lambda m: not inner.test(m))
        if op == "$exists":
            if not isinstance(operand, bool):
                raise self.fail(path, "must be true or false")
            return _Node(lambda m: (value_of(m, name) is not MISSING) is operand)
        get = _getter(name)
        if op in ("$in", "$nin"):
            if not isinstance(operand, list):
                raise self.fail(path, "must be a list of strings, numbers, booleans or nulls")
            self.count(path, max(0, len(operand) - 1))
            literals = [self.literal(name, item, f"{path}[{n}]") for n, item in enumerate(operand)]
            keys = frozenset(_key(literal) for literal in literals)
            if op == "$in":
                return _Node(lambda m: _key(get(m)) in keys, *self.in_sql(name, literals))
            return _Node(lambda m: _key(get(m)) not in keys)
        if op in _ORDER:
            literal = self.ordered(name, operand, path)
            compare = _ORDER[op]
            types = (str,) if isinstance(literal, str) else (int, float)

            def ordered(m: Memory) -> bool:
                value = get(m)
                return type(value) in types and compare(value, literal)

            return _Node(ordered, *self.ordered_sql(name, op, literal))
        literal = self.literal(name, operand, path)
        equal = _equality(get, literal)
        if op == "$ne":
            return _Node(lambda m: not equal(m))
        return _Node(equal, *self.equal_sql(name, literal))

    def literal(self, name: str, value: Any, path: str) -> Any:
        """A value to compare for equality: a JSON scalar (on a time field, ISO 8601 is read as Unix seconds)."""
        if isinstance(value, dict | list):
            raise self.fail(path, "must be a string, a number, a boolean or null (objects and arrays match nothing)")
        if isinstance(value, bool) and name in TIME_FIELDS:
            raise self.fail(path, "a time must be Unix seconds or an ISO 8601 string (2024-05-01T12:00:00Z)")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(path, "numbers must be finite")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
            raise self.fail(path, "an integer this large cannot be stored, so it could never match")
        if isinstance(value, str):
            if not _unicode(value):
                raise self.fail(path, "must be valid Unicode (a lone surrogate)")
            if len(value) > self.limits.max_value_chars:
                raise self.fail(path, f"longer than {self.limits.max_value_chars} characters (it could never match)")
            if name in TIME_FIELDS:
                return self.time(value, path)
        return value

    def ordered(self, name: str, value: Any, path: str) -> Any:
        """A bound for `$gt`..`$lte`: a number or a string (on a time field, a number or ISO 8601)."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.fail(path, "must be a number or a string (only those are ordered)")
        return self.literal(name, value, path)

    def time(self, text: str, path: str) -> float:
        seconds = parse_time(text)
        if seconds is None:
            raise self.fail(path, "a time must be Unix seconds or an ISO 8601 string (2024-05-01T12:00:00Z)")
        return seconds

    # ---- the SQL pre-filter: only what the store's columns and json_each read exactly as `matches` -------
    @staticmethod
    def ordered_sql(name: str, op: str, literal: Any) -> tuple[str, list[Any]]:
        if name not in TIME_FIELDS or isinstance(literal, str):
            return "1", []
        column = "COALESCE(updated_at, created_at)" if name == "updated_at" else name
        return f"{column} {_SQL_ORDER[op]} ?", [float(literal)]

    @staticmethod
    def in_sql(name: str, literals: list[Any]) -> tuple[str, list[Any]]:
        """`$in` on agent_id or run_id, on the columns (elsewhere, or past `_MAX_IN_SQL` values: none)."""
        if name not in SCOPE_COLUMNS or len(literals) > _MAX_IN_SQL:
            return "1", []
        texts = [x for x in literals if isinstance(x, str)]  # a column of strings: nothing else equals it
        null = f" OR {name} IS NULL" if any(x is None for x in literals) else ""
        return f"({name} IN ({', '.join('?' * len(texts))}){null})", texts

    @staticmethod
    def equal_sql(name: str, literal: Any) -> tuple[str, list[Any]]:
        if name in SCOPE_COLUMNS:  # a column of strings: a string equals it exactly, null is a NULL column
            if literal is None:
                return f"{name} IS NULL", []
            return (f"{name} = ?", [literal]) if isinstance(literal, str) else ("0", [])
        if name in FIELDS or literal is None:
            return "1", []
        if isinstance(literal, int) and not isinstance(literal, bool) and not -(2**63) <= literal < 2**63:
            literal = float(literal)  # as SQLite reads a JSON integer past 64 bits
        # The key is bound as a value and compared with json_each's `key`, never spliced into a JSON path (a
        # path has no escape for `"`). A boolean binds as 0/1 and matches 0/1 too: `matches` decides.
        return (
            "EXISTS (SELECT 1 FROM json_each(metadata) WHERE key = ? AND type NOT IN ('object', 'array', 'null')"
            " AND atom = ?)",
            [name, literal],
        )


def _unicode(text: str) -> bool:
    """Whether UTF-8 can carry the text: JSON's `\\ud800` escape decodes to a lone surrogate, which no
    encoder downstream can write."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


#: What a missing name and null read as in `_key`; and what no literal's key can equal (objects, arrays).
_NULL: Any = ("null",)
_OTHER: Any = object()


def _key(value: Any) -> Any:
    """A value's identity under filter equality, hashable: JSON's type and value (numbers by value, so 1 and
    1.0 share a key; booleans apart from numbers; a missing name as null; objects and arrays never equal)."""
    kind = type(value)
    if kind is str:
        return value
    if kind is int or kind is float:
        return ("n", value)
    if kind is bool:
        return ("b", value)
    if value is None or value is MISSING:
        return _NULL
    return _OTHER


def _getter(name: str) -> Callable[[Memory], Any]:
    """How a predicate reads `name`: a metadata key straight from the dict (the hot path of every scan)."""
    if name in FIELDS:
        return lambda m: value_of(m, name)
    return lambda m: m.metadata.get(name, MISSING)


def _equality(get: Callable[[Memory], Any], literal: Any) -> Predicate:
    """`$eq literal` as cheap as it can be: a string equals only a string, so one comparison does."""
    if isinstance(literal, str):
        return lambda m: bool(get(m) == literal)
    key = _key(literal)
    return lambda m: _key(get(m)) == key


def _conjunction(nodes: list[_Node]) -> _Node:
    """All of the nodes; constant ones folded away, so an empty filter costs nothing per memory."""
    if any(n.const is False for n in nodes):
        return _NONE
    nodes = [n for n in nodes if n.const is None]
    if not nodes:
        return _ALL
    if len(nodes) == 1:
        return nodes[0]
    tests = [n.test for n in nodes]
    narrowing = [n for n in nodes if n.sql != "1"]
    sql = " AND ".join(f"({n.sql})" for n in narrowing) if narrowing else "1"
    return _Node(lambda m: all(t(m) for t in tests), sql, [x for n in narrowing for x in n.params])


def _short(key: str, limit: int = 64) -> str:
    return key if len(key) <= limit else key[:limit] + "..."


def compile_filter(raw: JsonObject | None, limits: Limits, path: str = "filters") -> Filter | None:
    """The filter as a predicate, or None for no filter (absent, or `{}`); FilterError names a bad clause."""
    if raw is None:
        return None
    compiler = _Compiler(limits)
    node = compiler.filter(raw, path, 1)
    if not raw:
        return None
    return Filter(node.test, jsonutil.dumps(raw, sort_keys=True), node.sql, node.params)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_filter_json(text: str, limits: Limits, path: str = "filters") -> Filter | None:
    """A filter sent as JSON text (a query parameter): a 422 naming `path` when it is not a JSON object."""
    try:
        raw = json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise FilterError(f"{path}: not valid JSON ({exc})", field=path) from None
    except RecursionError:  # a few thousand brackets: the decoder's own recursion gives out first
        raise FilterError(f"{path}: nested too deeply to read", field=path) from None
    if not isinstance(raw, dict):
        raise FilterError(f"{path}: must be a JSON object", field=path)
    return compile_filter(raw, limits, path)
