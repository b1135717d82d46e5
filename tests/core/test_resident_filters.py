"""A resident user's filtered search and list page (`core/resident_search.py`) answer as the scan of every
memory does: the filter checked on each leg's best candidates, and a page walked from the cursor."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from jean_memory.core import postfilter, resident_search
from tests.core import rankings
from tests.core.conftest import MakeClient
from tests.core.rankings import tied

USER = 600


@pytest.fixture
def resident(make_client: MakeClient, tmp_path: Path) -> tuple[TestClient, list[str]]:
    """One resident user (USER memories, a third tagged, a tenth sharing each creation time), with recent
    changes: a text, a filter field, a delete, an expired memory."""
    c = make_client(tmp_path / "data", result_cache_size=0)  # each way answers for itself, not from the cache
    items = [
        {"content": f"fact {i} about topic{i % 7} and {['otters', 'kelp', 'tides'][i % 3]}",
         "metadata": {"third": i % 3, "n": i}, "created_at": 1000.0 + i // 10}
        for i in range(USER)
    ]  # fmt: skip
    ids = c.post("/v1/memories/batch", json={"user_id": "u", "items": items}).json()["ids"]
    c.patch(f"/v1/memories/{ids[8]}", params={"user_id": "u"}, json={"content": "giraffes about topic1"})
    c.patch(f"/v1/memories/{ids[10]}", params={"user_id": "u"}, json={"metadata": {"third": 0, "n": 10}})
    assert c.delete(f"/v1/memories/{ids[11]}", params={"user_id": "u"}).status_code == 204
    expiring = {"user_id": "u", "content": "fact about topic1 giraffes soon gone", "metadata": {"third": 0, "n": 599},
                "expires_at": time.time() + 0.5}  # fmt: skip
    answer = c.post("/v1/memories", json=expiring)
    assert answer.status_code in (200, 201), answer.text
    time.sleep(0.6)  # expired, not yet swept: every way must leave it out
    return c, ids


CASES: list[tuple[dict[str, Any], str]] = [
    ({"third": 0}, "giraffes topic1"),
    ({"$or": [{"third": 1}, {"n": {"$gte": 590}}]}, "fact 17 kelp"),
    ({"n": {"$lt": 150}}, "otters topic3"),
    ({"third": {"$in": [1, 2]}, "n": {"$gte": 300}}, "tides"),
    ({"n": 599}, "topic3"),  # one memory: fewer than a pool
]


@pytest.mark.parametrize("sample", [0, postfilter.SAMPLE], ids=["rounds", "estimated"])
def test_a_filtered_search_answers_as_the_scan(
    resident: tuple[TestClient, list[str]], monkeypatch: pytest.MonkeyPatch, sample: int
) -> None:
    """The vector leg's ranking, scores included; with words, as many results, all selected (see below);
    with the first rounds too small (no sample) or sized from the sample."""
    c, ids = resident
    calls: list[bool] = []
    real = resident_search.candidates

    async def counted(*args: Any, **kwargs: Any) -> list[str] | None:
        found = await real(*args, **kwargs)
        calls.append(found is not None)
        return found

    async def scan(*args: Any, **kwargs: Any) -> None:
        return None

    monkeypatch.setattr(postfilter, "SAMPLE", sample)
    monkeypatch.setattr(postfilter, "FIRST_ROUND", 1)
    monkeypatch.setattr(resident_search, "SCAN_SHARE", 100.0)  # tried whatever it costs
    monkeypatch.setattr(resident_search, "candidates", counted)
    from_candidates = rankings.answers(c, "u", CASES)
    assert calls.count(True) >= len(CASES), calls  # most searches were answered from candidates
    monkeypatch.setattr(resident_search, "candidates", scan)
    from_scan = rankings.answers(c, "u", CASES)
    # The vector leg alone: the same ranking. Checked on candidates, the legs' pools are cut among fewer
    # memories: where many tie at a pool's edge (these texts share their words), other tied memories may
    # join a pool, and the fusion ranks the union of the pools. So with words: as many, all selected.
    vector = slice(1, None, 3)
    assert [tied(hits) for hits in from_candidates[vector]] == [tied(hits) for hits in from_scan[vector]]
    assert [len(hits) for hits in from_candidates] == [len(hits) for hits in from_scan]
    for n, (filters, _) in enumerate(CASES):
        chosen = rankings.selected(c, "u", filters)
        assert all(i in chosen for hits in from_candidates[3 * n : 3 * n + 3] for i, _ in hits), filters
    assert all(ids[11] != i for hits in from_candidates for i, _ in hits)


@pytest.mark.parametrize("checks", [4, 64, resident_search.PAGE_CHECKS])
def test_a_filtered_list_walks_to_the_scans_pages(
    resident: tuple[TestClient, list[str]], monkeypatch: pytest.MonkeyPatch, checks: int
) -> None:
    """Page after page, the same memories in the same order (ties of creation time by id) whether the walk
    fills the page or leaves it to the scan after `checks` memories."""
    c, _ = resident
    real = resident_search.page
    walked: list[bool] = []

    def counted(*args: Any) -> Any:
        found = real(*args)
        walked.append(found is not None)
        return found

    monkeypatch.setattr(resident_search, "PAGE_CHECKS", checks)
    for filters, _ in CASES:
        for limit in (7, 50):
            monkeypatch.setattr(resident_search, "page", counted)
            walk = rankings.pages(c, "u", filters, limit)
            monkeypatch.setattr(resident_search, "page", lambda *args: None)
            assert walk == rankings.pages(c, "u", filters, limit), (filters, limit, checks)
    assert any(walked), "some pages were walked"
    if checks == 4:
        assert not all(walked), "some pages were left to the scan"
