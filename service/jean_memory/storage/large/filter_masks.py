"""The filter grammar evaluated over columns: a whole big user's selection in a few vector operations.

`filters.compile_filter` turns a filter into a predicate over one `Memory`; every path that holds
records calls it. A partially resident user's records are not in RAM, so its snapshot keeps, beside its
vectors, the fields a filter can name as columns (`storage/large/snapshot_fields.py`): the times and scopes
of every position, and each metadata key's scalar values. `compile_mask` reads an already validated
filter (its canonical JSON) again and returns a function from those columns to a boolean array, one
entry per position, with the same semantics as the predicate (pinned down by a test that compares the
two on random filters over memories of every JSON kind).

Where a clause cannot be answered exactly from the columns, the function returns None and the caller
checks memories one by one instead: an ordering of strings (the columns hold digests of strings, not the
strings), and numbers past float64's exact integers. Strings are compared by a 64-bit digest: two
different strings sharing one is a chance of about one in 2**64 per comparison, and the memories a
search returns are checked with the predicate again.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from jean_memory.filters import TIME_FIELDS, parse_time
from jean_memory.memory import Scope

#: A value's kind in the columns (`Entries.kind`); a name a memory does not have is no entry at all.
NULL, TEXT, NUMBER, BOOLEAN, OTHER = 1, 2, 3, 4, 5
#: Integers past this have no exact float64; a key holding one is answered memory by memory.
EXACT_INTEGER = 2**53


def text_digest(text: str) -> int:
    """A string's digest in the columns (never 0: a scope column's 0 means "no scope")."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") or 1


@dataclass(frozen=True, slots=True)
class Entries:
    """One name's values over the positions that have it (ascending): its kind, its number (a boolean as
    0 or 1) and its string's digest. `exact`: every number is an exact float64. `dense`: every position
    has it, in order (`positions` is then not needed, and empty)."""

    positions: np.ndarray
    kind: np.ndarray
    number: np.ndarray
    digest: np.ndarray
    exact: bool = True
    dense: bool = False

    def __len__(self) -> int:
        return len(self.kind)


class Columns(Protocol):
    """A user's fields by position (`storage/large/snapshot_fields.Fields`)."""

    @property
    def size(self) -> int: ...

    def entries(self, name: str) -> Entries: ...


#: A compiled filter over columns: the selected positions, or None where the columns cannot tell.
Mask = Callable[[Columns], "np.ndarray | None"]

_ORDER: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def _scatter(columns: Columns, found: Entries, hit: np.ndarray) -> np.ndarray:
    """The positions of the entries `hit` marks, as a mask over all positions (a name every memory has is
    already one: its entries are every position, in order)."""
    if found.dense or len(found.positions) == columns.size:
        return np.asarray(hit, dtype=bool)
    mask = np.zeros(columns.size, dtype=bool)
    mask[found.positions[hit]] = True
    return mask


def _literal(name: str, value: Any) -> Any:
    """As `filters` reads a literal: on a time field, ISO 8601 as Unix seconds."""
    if name in TIME_FIELDS and isinstance(value, str):
        return parse_time(value)
    return value


def _number(value: Any) -> float | None:
    """A numeric literal as float64, or None when it has no exact one (the caller then cannot answer)."""
    if isinstance(value, int) and abs(value) > EXACT_INTEGER:
        return None
    return float(value)


def equal(columns: Columns, name: str, literal: Any) -> np.ndarray | None:
    """`$eq`: the value has the literal's JSON type and equals it; null matches a missing name too."""
    return any_of(columns, name, [literal])


def any_of(columns: Columns, name: str, literals: list[Any]) -> np.ndarray | None:
    """`$in`: any of the literals `$eq`, in one pass over the name's entries per JSON type."""
    found = columns.entries(name)
    texts = [np.uint64(text_digest(x)) for x in literals if isinstance(x, str)]
    flags = [float(x) for x in literals if isinstance(x, bool)]
    exact = [_number(x) for x in literals if isinstance(x, int | float) and not isinstance(x, bool)]
    numbers = [x for x in exact if x is not None]
    if exact and (len(numbers) < len(exact) or not found.exact):
        return None
    hit = np.zeros(len(found), dtype=bool)
    if texts:  # only a string has a digest (never 0)
        hit |= found.digest == texts[0] if len(texts) == 1 else np.isin(found.digest, texts)
    for kind, values in ((BOOLEAN, flags), (NUMBER, numbers)):
        if values:
            hit |= (found.kind == kind) & (
                found.number == values[0] if len(values) == 1 else np.isin(found.number, values)
            )
    if any(x is None for x in literals):  # null: a null value, or no value
        hit |= found.kind == NULL
        return _scatter(columns, found, hit) | ~present(columns, name)
    return _scatter(columns, found, hit)


def present(columns: Columns, name: str) -> np.ndarray:
    """`$exists true`: a metadata key there (even as null), a field not null."""
    found = columns.entries(name)
    return _scatter(columns, found, np.ones(len(found), dtype=bool))


def ordered(columns: Columns, name: str, op: str, literal: Any) -> np.ndarray | None:
    """`$gt`..`$lte`: numbers with numbers only; strings are ordered by code point, which digests cannot
    answer (None)."""
    if isinstance(literal, str):
        return None
    number = _number(literal)
    found = columns.entries(name)
    if number is None or not found.exact:
        return None
    hit = (found.kind == NUMBER) & _ORDER[op](found.number, number)
    return _scatter(columns, found, hit)


def in_scope(columns: Columns, scope: Scope) -> np.ndarray:
    """The positions in `scope` (each set part equal), as `Memory.in_scope`."""
    mask = np.ones(columns.size, dtype=bool)
    for name, value in (("agent_id", scope.agent_id), ("run_id", scope.run_id)):
        if value is not None:
            part = equal(columns, name, value)
            assert part is not None  # a string always has an answer
            mask &= part
    return mask


def unexpired(columns: Columns, now: float) -> np.ndarray:
    """The positions not expired at `now`, as `Memory.expired`."""
    found = columns.entries("expires_at")
    return ~_scatter(columns, found, found.number <= now)


class _Unanswerable(Exception):
    """A clause the columns cannot answer exactly."""


def _all(parts: list[np.ndarray | None], columns: Columns) -> np.ndarray:
    mask = np.ones(columns.size, dtype=bool)
    for part in parts:
        if part is None:
            raise _Unanswerable
        mask &= part
    return mask


def _known(part: np.ndarray | None) -> np.ndarray:
    if part is None:
        raise _Unanswerable
    return part


def _filter(raw: dict[str, Any], columns: Columns) -> np.ndarray:
    parts: list[np.ndarray | None] = []
    for key, value in raw.items():
        if key == "$not":
            parts.append(~_filter(value, columns))
        elif key == "$and":
            parts.append(_all([_filter(item, columns) for item in value], columns))
        elif key == "$or":
            mask = np.zeros(columns.size, dtype=bool)
            for item in value:
                mask |= _filter(item, columns)
            parts.append(mask)
        else:
            parts.append(_condition(key, value, columns))
    return _all(parts, columns)


def _condition(name: str, value: Any, columns: Columns) -> np.ndarray:
    if isinstance(value, dict):
        return _all([_operator(name, op, operand, columns) for op, operand in value.items()], columns)
    return _operator(name, "$eq", value, columns)


def _operator(name: str, op: str, operand: Any, columns: Columns) -> np.ndarray:
    if op == "$not":
        return ~_condition(name, operand, columns)
    if op == "$exists":
        found = present(columns, name)
        return found if operand else ~found
    if op in ("$in", "$nin"):
        mask = _known(any_of(columns, name, [_literal(name, item) for item in operand]))
        return mask if op == "$in" else ~mask
    if op in _ORDER:
        return _known(ordered(columns, name, op, _literal(name, operand)))
    found = _known(equal(columns, name, _literal(name, operand)))
    return ~found if op == "$ne" else found


def compile_mask(raw: dict[str, Any]) -> Mask:
    """The filter `raw` (one `filters.compile_filter` accepted) over columns."""

    def mask(columns: Columns) -> np.ndarray | None:
        try:
            return _filter(raw, columns)
        except _Unanswerable:
            return None

    return mask
