"""Random memories, random filters and random scopes for comparing the paths a filter runs on (resident
users, partially resident users' store scans, cluster replicas): one seeded source, so every path sees the
same data and the same filters, and a failure names its seed. Memories carry `agent_id`/`run_id`, and
filters name them, so filters on the scopes are compared on every path too."""

from __future__ import annotations

import random
import uuid
from typing import Any

from jean_memory.filters import Limits, compile_filter
from jean_memory.memory import Memory, Scope

#: Metadata values of every JSON kind, a few of each, so equal, unequal and mismatched types all occur.
KINDS = ["health", "travel", "work", "Work", "", "é"]
NUMBERS: list[Any] = [0, 1, 2, 2.5, -1, 10, 1.0]
MIXED: list[Any] = ["1", 1, True, False, None, "a", 0, [1], {"x": 1}]
#: Created times: 2023-11-14T22:13:20Z onwards, a minute apart.
T0 = 1_700_000_000.0
#: Expiry times, far in the future (an expiry must be in the future when sent) and distinct.
EXPIRES = [4_000_000_000.0, 4_100_000_000.0, 4_200_000_000.0]
#: Scopes: most memories have an agent, many a run; a metadata key `agent_id` sometimes too (never read as it).
AGENTS = ["planner", "critic"]
RUNS = ["r1", "r2", "r3"]


def memories(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """`n` batch items with client-chosen ids and times, so every service stores the very same memories."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        metadata: dict[str, Any] = {"kind": rng.choice(KINDS), "n": rng.choice(NUMBERS)}
        if rng.random() < 0.7:
            metadata["mixed"] = rng.choice(MIXED)
        if rng.random() < 0.3:
            metadata["rare"] = rng.choice([None, "x"])
        item: dict[str, Any] = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "content": f"memory {i} about {metadata['kind'] or 'nothing'} {rng.choice(['alpha', 'beta', 'gamma'])}",
            "metadata": metadata,
            "created_at": T0 + 60 * i,
        }
        if rng.random() < 0.3:
            item["expires_at"] = rng.choice(EXPIRES)
        if rng.random() < 0.7:
            item["agent_id"] = rng.choice(AGENTS)
        if rng.random() < 0.6:
            item["run_id"] = rng.choice(RUNS)
        if rng.random() < 0.1:
            metadata["agent_id"] = rng.choice(AGENTS)
        out.append(item)
    return out


def _literal(rng: random.Random, name: str) -> Any:
    if name == "kind":
        return rng.choice([*KINDS, 1, None])
    if name == "n":
        return rng.choice([*NUMBERS, "1", None])
    if name in ("created_at", "updated_at"):
        return rng.choice([T0 + 60 * rng.randrange(0, 400), "2023-11-14T23:00:00Z", T0])
    if name == "expires_at":
        return rng.choice([*EXPIRES, None, "2100-01-01T00:00:00Z"])
    if name in ("agent_id", "run_id"):
        return rng.choice([*AGENTS, *RUNS, None, 1])
    return rng.choice([x for x in MIXED if not isinstance(x, list | dict)])


def _ordered(rng: random.Random, name: str) -> Any:
    value = _literal(rng, name)
    while value is None or isinstance(value, bool):
        value = _literal(rng, name)
    return value


NAMES = ["kind", "n", "mixed", "rare", "absent", "created_at", "updated_at", "expires_at", "agent_id", "run_id"]


def condition(rng: random.Random, name: str) -> Any:
    op = rng.choice(["plain", "$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists", "$not", "two"])
    if op == "plain":
        return _literal(rng, name)
    if op in ("$eq", "$ne"):
        return {op: _literal(rng, name)}
    if op in ("$in", "$nin"):
        return {op: [_literal(rng, name) for _ in range(rng.randrange(0, 4))]}
    if op == "$exists":
        return {op: rng.random() < 0.5}
    if op == "$not":
        return {op: condition(rng, name)}
    if op == "two":
        return {"$gte": _ordered(rng, name), "$lt": _ordered(rng, name)}
    return {op: _ordered(rng, name)}


def random_filter(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    """A filter of up to three levels: names with conditions, and `$and`/`$or`/`$not` of smaller filters."""
    out: dict[str, Any] = {}
    for _ in range(rng.randrange(1, 3)):
        roll = rng.random()
        if depth < 2 and roll < 0.15:
            out["$or"] = [random_filter(rng, depth + 1) for _ in range(rng.randrange(1, 4))]
        elif depth < 2 and roll < 0.25:
            out["$and"] = [random_filter(rng, depth + 1) for _ in range(rng.randrange(1, 3))]
        elif depth < 2 and roll < 0.32:
            out["$not"] = random_filter(rng, depth + 1)
        else:
            name = rng.choice(NAMES)
            out[name] = condition(rng, name)
    return out


#: Filters on the scopes every path is checked with, besides the random ones (which name them by chance).
SCOPE_FILTERS: list[dict[str, Any]] = [
    {"agent_id": "planner"},
    {"agent_id": None},
    {"run_id": {"$in": ["r1", "r3"]}},
    {"run_id": {"$exists": True}, "agent_id": {"$ne": "critic"}},
    {"$or": [{"agent_id": "critic"}, {"run_id": None}]},
    {"$not": {"run_id": "r2"}},
    {"run_id": {"$gte": "r2"}},
    {"agent_id": 1},
]


def random_scope(rng: random.Random) -> dict[str, str]:
    """A scope to read within (the route's `agent_id`/`run_id`): none most of the time, else one part or both."""
    roll = rng.random()
    if roll < 0.6:
        return {}
    if roll < 0.75:
        return {"agent_id": rng.choice(AGENTS)}
    if roll < 0.9:
        return {"run_id": rng.choice(RUNS)}
    return {"agent_id": rng.choice(AGENTS), "run_id": rng.choice(RUNS)}


def live_ids(items: list[dict[str, Any]], raw: dict[str, Any], scope: dict[str, str] | None = None) -> set[str]:
    """The ids of `items` in `scope` that a filter selects, by the grammar's own predicate (its semantics are
    pinned down by tests/unit/test_filters.py) and the scope's own test: what every path must answer."""
    compiled = compile_filter(raw, Limits())
    wanted = Scope(**(scope or {}))
    return {
        item["id"]
        for item in items
        if (m := as_memory(item)).in_scope(wanted) and (compiled is None or compiled.matches(m))
    }


def as_memory(item: dict[str, Any]) -> Memory:
    return Memory(
        item["id"], "u", item["content"], item["metadata"], 0.5, item["created_at"], expires_at=item.get("expires_at"),
        agent_id=item.get("agent_id"), run_id=item.get("run_id"),
    )  # fmt: skip
