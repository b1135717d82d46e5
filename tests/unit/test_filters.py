"""The filter grammar (`jean_memory.filters`): every operator, nesting, the bounds, each error's path, and
the SQL pre-filter never dropping a row the predicate keeps (checked against a real SQLite store's JSON1)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from jean_memory import jsonutil
from jean_memory.filters import FilterError, Limits, compile_filter, parse_filter_json, parse_time
from jean_memory.memory import Memory

DEFAULT = Limits()
LIMITS = Limits(max_depth=4, max_clauses=10, max_keys=3, max_key_chars=8, max_value_chars=16)


def memory(metadata: dict[str, Any], created_at: float = 1000.0, **fields: Any) -> Memory:
    m = Memory("id", "u", "text", metadata, 0.5, created_at)
    for name, value in fields.items():
        if hasattr(m, name):
            setattr(m, name, value)
    return m


def selects(raw: dict[str, Any], m: Memory, limits: Limits = DEFAULT) -> bool:
    compiled = compile_filter(raw, limits)
    assert compiled is not None
    return compiled.matches(m)


def error(raw: Any, limits: Limits = LIMITS) -> FilterError:
    with pytest.raises(FilterError) as caught:
        compile_filter(raw, limits)
    return caught.value


A = memory({"kind": "health", "n": 5, "f": 2.5, "flag": True, "none": None, "tags": ["x"], "o": {"a": 1}})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"kind": "health"}, True),
        ({"kind": "travel"}, False),
        ({"kind": {"$eq": "health"}}, True),
        ({"n": 5.0}, True),  # numbers by value
        ({"flag": 1}, False),  # booleans are not numbers
        ({"n": True}, False),
        ({"none": None}, True),
        ({"absent": None}, True),  # a missing key equals null
        ({"kind": None}, False),
        ({"kind": {"$ne": "travel"}}, True),
        ({"absent": {"$ne": "x"}}, True),  # $ne is "not $eq": a missing key differs from "x"
        ({"kind": {"$ne": "health"}}, False),
        ({"kind": {"$in": ["a", "health"]}}, True),
        ({"kind": {"$in": []}}, False),
        ({"kind": {"$nin": ["a", "health"]}}, False),
        ({"absent": {"$nin": ["a"]}}, True),
        ({"absent": {"$in": [None]}}, True),
        ({"n": {"$gt": 4}}, True),
        ({"n": {"$gt": 5}}, False),
        ({"n": {"$gte": 5}}, True),
        ({"f": {"$lt": 3}}, True),
        ({"f": {"$lte": 2.5}}, True),
        ({"n": {"$gt": "4"}}, False),  # a string bound never matches a number: no error, no match
        ({"kind": {"$gt": "h"}}, True),  # strings by code point
        ({"kind": {"$lt": "h"}}, False),
        ({"kind": {"$gt": 1}}, False),
        ({"absent": {"$lt": 10}}, False),
        ({"none": {"$lt": 10}}, False),
        ({"flag": {"$gt": 0}}, False),
        ({"kind": {"$exists": True}}, True),
        ({"none": {"$exists": True}}, True),  # present as null
        ({"absent": {"$exists": False}}, True),
        ({"absent": {"$exists": True}}, False),
        ({"tags": ["x"][0]}, False),  # arrays equal no scalar
        ({"o": {"$exists": True}}, True),
        ({"n": {"$gt": 1, "$lt": 9}}, True),  # operators of one name: all must hold
        ({"n": {"$gt": 1, "$lt": 3}}, False),
        ({"kind": {"$not": {"$in": ["health"]}}}, False),
        ({"kind": {"$not": "travel"}}, True),
        ({"$and": [{"kind": "health"}, {"n": 5}]}, True),
        ({"$and": [{"kind": "health"}, {"n": 6}]}, False),
        ({"$or": [{"kind": "x"}, {"n": 5}]}, True),
        ({"$or": [{"kind": "x"}, {"n": 6}]}, False),
        ({"$not": {"kind": "health"}}, False),
        ({"$not": {"$or": [{"kind": "x"}, {"n": 6}]}}, True),
        ({"kind": "health", "$or": [{"n": 6}, {"f": 2.5}]}, True),
        ({"$and": [{}]}, True),
    ],
)
def test_each_operator(raw: dict[str, Any], expected: bool) -> None:
    assert selects(raw, A) is expected


def test_the_memorys_own_fields() -> None:
    m = memory({"created_at": "not this"}, created_at=1_700_000_000.0, updated_at=None, expires_at=None)
    assert selects({"created_at": {"$gte": 1_700_000_000}}, m)
    assert not selects({"created_at": {"$gt": 1_700_000_000}}, m)
    assert selects({"created_at": {"$gte": "2023-11-14T22:13:20Z"}}, m)  # ISO 8601, read as Unix seconds
    assert not selects({"created_at": {"$gt": "2023-11-14T22:13:20+00:00"}}, m)
    assert selects({"created_at": {"$lt": "2023-11-15"}}, m)  # no zone: UTC
    assert selects({"updated_at": 1_700_000_000}, m), "never updated: updated_at is created_at"
    assert selects({"expires_at": None}, m) and selects({"expires_at": {"$exists": False}}, m)
    assert not selects({"expires_at": {"$gt": 0}}, m), "a memory that never expires has no expiry to compare"
    m.expires_at = 1_800_000_000.0
    assert selects({"expires_at": {"$lt": "2030-01-01T00:00:00Z"}}, m)
    assert selects({"agent_id": None}, m) and selects({"run_id": {"$exists": False}}, m), "an unscoped memory"
    m.agent_id, m.run_id = "planner", "r1"
    assert selects({"agent_id": "planner", "run_id": {"$in": ["r0", "r1"]}}, m)
    assert not selects({"agent_id": None}, m) and not selects({"run_id": {"$ne": "r1"}}, m)
    assert selects({"run_id": {"$gt": "r0"}}, m), "scope ids are strings: ordered by code point"
    assert not selects({"agent_id": 1}, m), "a number never equals a scope id"


def test_plain_and_empty_filters() -> None:
    assert compile_filter(None, LIMITS) is None
    assert compile_filter({}, LIMITS) is None
    a, b = compile_filter({"x": 1, "y": 2}, LIMITS), compile_filter({"y": 2, "x": 1}, LIMITS)
    assert a is not None and b is not None and a.canonical == b.canonical


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        ({"$nor": []}, "filters.$nor", "unknown operator '$nor'"),
        ({"k": {"$regex": "a"}}, "filters.k.$regex", "unknown operator '$regex'"),
        ({"$or": [{"k": 1}, {"k": {"$gt": None}}]}, "filters.$or[1].k.$gt", "must be a number or a string"),
        ({"$or": [{"k": 1}, {"k": {"$gt": True}}]}, "filters.$or[1].k.$gt", "must be a number or a string"),
        ({"$and": []}, "filters.$and", "non-empty list"),
        ({"$or": {"k": 1}}, "filters.$or", "non-empty list"),
        ({"$or": [1]}, "filters.$or[0]", "must be an object"),
        ({"$not": [{"k": 1}]}, "filters.$not", "must be an object"),
        ({"k": {}}, "filters.k", "empty operator object"),
        ({"k": [1, 2]}, "filters.k", "must be a string, a number"),
        ({"k": {"$in": "a"}}, "filters.k.$in", "must be a list"),
        ({"k": {"$in": ["a", {"b": 1}]}}, "filters.k.$in[1]", "must be a string, a number"),
        ({"k": {"$exists": 1}}, "filters.k.$exists", "true or false"),
        ({"k": {"$eq": "v" * 17}}, "filters.k.$eq", "longer than 16 characters"),
        ({"k" * 9: 1}, "filters." + "k" * 9, "longer than 8 characters"),
        ({"a": 1, "b": 2, "c": 3, "d": 4}, "filters", "more than 3 keys"),
        ({"created_at": {"$gt": "yesterday"}}, "filters.created_at.$gt", "ISO 8601"),
        ({"expires_at": {"$nin": [1, True]}}, "filters.expires_at.$nin[1]", "ISO 8601"),
        ({"k": 2**1100}, "filters.k", "cannot be stored"),
        ({"k": {"$in": list(range(11))}}, "filters.k.$in", "more than 10 clauses"),
        ({"$not": {"$not": {"$not": {"$not": {"k": 1}}}}}, "filters.$not.$not.$not.$not", "deeper than 4"),
        ({"$or": [{"k": {"$not": {"$not": {"$eq": 1}}}}]}, "filters.$or[0].k.$not.$not", "deeper than 4"),
        ([1], "filters", "must be an object"),
    ],
)
def test_each_error_names_its_path(raw: Any, path: str, words: str) -> None:
    refused = error(raw)
    assert refused.field == path and refused.status == 422, refused.message
    assert refused.message.startswith(path + ": ") and words in refused.message, refused.message


def test_empty_filters_are_folded_away() -> None:
    """`{}` selects everything: folded at compile time, so a list of them costs nothing per memory (and
    does not count against the clause bound), and `$not`/`$or` of one are constants too."""
    many = compile_filter({"$and": [{}] * 10, "$not": {"$or": [{}] * 10}, "kind": "a"}, LIMITS)
    assert many is not None and not many.matches(memory({"kind": "a"}))  # $not of everything: nothing
    some = compile_filter({"$and": [{}] * 10, "$or": [{}] * 10, "kind": "a"}, LIMITS)
    assert some is not None and some.matches(memory({"kind": "a"})) and not some.matches(memory({}))
    assert "more than 10 filters" in error({"$or": [{}] * 11}).message
    nothing = compile_filter({"$not": {"$and": [{}]}}, LIMITS)
    assert nothing is not None and not nothing.matches(A) and nothing.sql == "0"
    assert compile_filter({"$or": [{"$not": {}}, {"kind": "health"}]}, LIMITS).matches(A)  # type: ignore[union-attr]


def test_filters_sent_as_json_text() -> None:
    compiled = parse_filter_json('{"kind": {"$in": ["a"]}}', LIMITS)
    assert compiled is not None and compiled.matches(memory({"kind": "a"}))
    cases = [
        ("{", "filters", "not valid JSON"),
        ("[1]", "filters", "must be a JSON object"),
        ('{"k": NaN}', "filters", "not valid JSON"),
        ('{"k": "\\ud800"}', "filters.k", "valid Unicode"),
        ('{"\\ud800": 1}', "filters", "valid Unicode"),
        ('{"a":' * 1600 + "1" + "}" * 1600, "filters", "nested too deeply"),
    ]
    for text, path, words in cases:
        with pytest.raises(FilterError) as caught:
            parse_filter_json(text, LIMITS)
        assert caught.value.field == path and words in caught.value.message, (text, caught.value.message)


def test_iso_times() -> None:
    assert parse_time("1970-01-01T00:00:10Z") == 10.0
    assert parse_time("1970-01-01T01:00:10+01:00") == 10.0
    assert parse_time("1970-01-01") == 0.0
    assert parse_time("1970-01-01t00:00:10.5z") == 10.5
    assert parse_time("soon") is None


#: Metadata values of every JSON kind, for the pre-filter check below.
VALUES: list[Any] = [None, True, False, 0, 1, 1.0, 2.5, -3, 2**64, "", "a", "b", "1", [1], {"a": 1}]
FILTERS: list[dict[str, Any]] = [{"k": v} for v in VALUES if not isinstance(v, list | dict)] + [
    {"k": {"$ne": 1}},
    {"k": {"$in": [1, "a", None]}},
    {"k": {"$gt": 0}},
    {"k": {"$lte": "a"}},
    {"$or": [{"k": True}, {"j": "a"}]},
    {"$or": [{"k": 1}, {"k": {"$exists": False}}]},
    {"$not": {"k": 1}},
    {"k": 1, "created_at": {"$gte": 2}, "updated_at": {"$lt": 5}},
    {"expires_at": {"$gt": 3}},
    {'a"b': 1},
    # agent_id and run_id: the columns, not the metadata (a metadata key `agent_id` is never read)
    {"agent_id": "a"},
    {"agent_id": None},
    {"agent_id": 1},
    {"run_id": "1"},
    {"run_id": {"$in": ["a", 1, None]}},
    {"run_id": {"$in": []}},
    {"agent_id": {"$nin": ["a"]}},
    {"$or": [{"agent_id": "a"}, {"k": 1}]},
    {"$not": {"run_id": "a"}},
]


def test_the_sql_prefilter_keeps_every_row_the_predicate_keeps() -> None:
    """On the store, the filter's SQL narrows the scan and the predicate has the final word: so the SQL must
    let through every row the predicate selects (a superset), here over values of every JSON kind."""
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE memories (id TEXT, metadata TEXT, created_at REAL, updated_at REAL, expires_at REAL,"
        " agent_id TEXT, run_id TEXT)"
    )
    rows: list[Memory] = []
    scopes = [(None, None), ("a", "1"), ("1", "a"), ("b", None)]
    for n, value in enumerate(VALUES):
        for s, other in enumerate((None, "a")):
            for t, times in enumerate(((1.0, None, None), (3.0, 4.0, 9.0))):
                agent_id, run_id = scopes[(n + 2 * s + t) % len(scopes)]
                meta = {"k": value, **({"j": other} if other else {}), 'a"b': value, "agent_id": "a"}
                m = memory(meta, times[0], updated_at=times[1], expires_at=times[2], agent_id=agent_id, run_id=run_id)
                m.id = f"{n}-{other}-{times[0]}"
                rows.append(m)
                db.execute(
                    "INSERT INTO memories VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (m.id, jsonutil.dumps_str(meta), *times, agent_id, run_id),
                )
    for raw in FILTERS:
        compiled = compile_filter(raw, Limits())
        assert compiled is not None
        through = {r[0] for r in db.execute(f"SELECT id FROM memories WHERE {compiled.sql}", compiled.params)}
        wanted = {m.id for m in rows if compiled.matches(m)}
        assert wanted <= through, (raw, wanted - through)
        if compiled.sql != "1":
            assert through != {m.id for m in rows}, f"{raw}: the pre-filter narrowed nothing"
