"""Comparing the ways to one filtered search or list: each way's rankings over the same cases, up to ties,
and its pages."""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import TestClient

MODES = ("hybrid", "vector", "lexical")


def answers(c: TestClient, user: str, cases: list[tuple[dict[str, Any], str]]) -> list[list[tuple[str, float]]]:
    """Each case's top 5 in each of `MODES` (in that order), ids and scores rounded."""
    out = []
    for filters, query in cases:
        for mode in MODES:
            body = {"user_id": user, "query": query, "k": 5, "mode": mode, "filters": filters}
            hits = c.post("/v1/search", json=body).json()["results"]
            out.append([(h["id"], round(h["score"], 5)) for h in hits])
    return out


def selected(c: TestClient, user: str, filters: dict[str, Any]) -> set[str]:
    """Every memory the filter selects, as an export finds them."""
    r = c.get("/v1/memories/export", params={"user_id": user, "filters": json.dumps(filters)})
    return {json.loads(line)["id"] for line in r.text.splitlines()}


def tied(hits: list[tuple[str, float]]) -> list[tuple[float, frozenset[str] | int]]:
    """A ranking up to the order of equal scores: each score with the ids that have it (how many, for the
    last score: which of the memories tied there made the cut depends on the order they were met in)."""
    scores = sorted({s for _, s in hits}, reverse=True)
    groups = [frozenset(i for i, s in hits if s == score) for score in scores]
    return [
        (score, group if n < len(groups) - 1 else len(group))
        for n, (score, group) in enumerate(zip(scores, groups, strict=True))
    ]


def pages(c: TestClient, user: str, filters: dict[str, Any], limit: int) -> list[list[str]]:
    """Every page of the user's filtered list, following the cursor: the ids of each."""
    out: list[list[str]] = []
    cursor: str | None = None
    while True:
        params = {"user_id": user, "limit": str(limit), "filters": json.dumps(filters)}
        if cursor:
            params["cursor"] = cursor
        body = c.get("/v1/memories", params=params).json()
        out.append([m["id"] for m in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return out
