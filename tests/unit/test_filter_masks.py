"""A filter over a big user's columns (`filter_masks`, `storage/large/snapshot_fields`) selects exactly the
memories its predicate selects, or says it cannot tell: random filters over memories of every JSON kind,
scopes and expiry included."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from jean_memory.filters import Limits, compile_filter
from jean_memory.memory import Memory, Scope
from jean_memory.storage.large import snapshot_fields
from jean_memory.storage.large.filter_masks import compile_mask, in_scope, unexpired
from jean_memory.storage.large.snapshot_fields import Fields, FieldsBuilder
from tests.filtercases import SCOPE_FILTERS, as_memory, memories, random_filter, random_scope

EXTRA: list[dict[str, Any]] = [
    {"n": 2**60},  # past float64's exact integers: the key's numbers cannot be answered from the columns
    {"n": {"$gt": 1}},
    {"kind": {"$gt": "a"}},  # strings are ordered by code point, which digests cannot answer
    {"kind": {"$in": []}},
    {"kind": {"$nin": []}},
    {"mixed": True},
    {"mixed": 1},
    {"mixed": "1"},
    {"mixed": None},
    {"mixed": {"$exists": True}},
    {"rare": None},
    {"expires_at": None},
    {"expires_at": {"$exists": True}},
    {"updated_at": {"$gte": 1_700_000_600}},
    {"created_at": "2023-11-14T23:00:00Z"},
]


def columns_of(items: list[Memory], tmp_path: Path) -> Fields:
    builder = FieldsBuilder()
    builder.add(items[: len(items) // 2])  # in chunks, as a snapshot build
    builder.add(items[len(items) // 2 :])
    assert builder.write(tmp_path)
    fields = snapshot_fields.load(tmp_path)
    assert fields is not None
    return fields


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Memory], Fields]:
    rng = random.Random(20261207)
    items = [as_memory(item) for item in memories(rng, 400)]
    for n, memory in enumerate(items):
        if n % 5 == 0:
            memory.updated_at = memory.created_at + 600
        if n % 11 == 0:
            memory.metadata["big"] = 2**60 + n
    return items, columns_of(items, tmp_path_factory.mktemp("fields"))


def test_random_filters_select_over_columns_as_their_predicate(population: tuple[list[Memory], Fields]) -> None:
    items, fields = population
    rng = random.Random(7)
    raws = SCOPE_FILTERS + EXTRA + [random_filter(rng) for _ in range(600)]
    answered = 0
    for raw in raws:
        compiled = compile_filter(raw, Limits())
        if compiled is None:
            continue
        mask = compile_mask(raw)(fields)
        if mask is None:
            continue
        answered += 1
        wanted = [compiled.matches(m) for m in items]
        assert mask.tolist() == wanted, raw
    assert answered > len(raws) // 2, "most filters are answered (all but orderings of strings and inexact numbers)"
    assert compile_mask({"big": 2**60})(fields) is None, "inexact numbers are not answered"
    assert compile_mask({"kind": {"$lt": "x"}})(fields) is None


def test_scopes_and_expiry_over_columns(population: tuple[list[Memory], Fields]) -> None:
    items, fields = population
    rng = random.Random(3)
    for _ in range(20):
        scope = Scope(**random_scope(rng))
        assert in_scope(fields, scope).tolist() == [m.in_scope(scope) for m in items], scope
    for now in (0.0, 4_000_000_000.0, 4_100_000_000.0, 5_000_000_000.0):
        assert unexpired(fields, now).tolist() == [not m.expired(now) for m in items], now
    held = sum(bool(m.agent_id) + bool(m.run_id) + bool(m.expires_at) for m in items)
    assert fields.nbytes == 16 * held, "the sparse fields gathered are counted (the times are mapped views)"


def test_too_many_keys_write_no_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot_fields, "MAX_KEYS", 3)
    builder = FieldsBuilder()
    builder.add([Memory(f"m{i}", "u", "text", {f"key{i}": i}, 0.5, 1.0) for i in range(5)])
    assert not builder.write(tmp_path) and snapshot_fields.load(tmp_path) is None
