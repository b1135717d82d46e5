"""Users bigger than their share of the tier are partially resident: vectors from a memory-mapped snapshot
plus a RAM delta, records read from the store on demand. Every operation answers as for a whole user."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import faiss
import pytest
from starlette.testclient import TestClient

from jean_memory.core import partial_search, postfilter
from jean_memory.storage.large import residency, snapshot
from tests.core import rankings
from tests.core.conftest import MakeClient
from tests.core.rankings import tied

BIG = 300


def wait_shipped(c: TestClient) -> None:
    deadline = time.monotonic() + 30
    while "jm_shuttle_pending 0.0" not in c.get("/metrics").text:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def snapshot_of(data: Path) -> Path:
    """The one user's published snapshot: not the `.building-*` folder a compaction writes beside it (the
    test once read one's meta.json before it was written) nor, during the swap, the `.old` one."""
    deadline = time.monotonic() + 5
    while True:
        published = [p for p in (data / "index").iterdir() if not p.name.startswith(".") and p.suffix != ".old"]
        if len(published) == 1 and (published[0] / "meta.json").exists():
            return published[0]
        assert time.monotonic() < deadline, f"no single published snapshot: {published}"
        time.sleep(0.01)


def top(c: TestClient, query: str) -> str:
    return str(c.post("/v1/search", json={"user_id": "big", "query": query, "k": 1}).json()["results"][0]["id"])


def metric(c: TestClient, line_start: str) -> float:
    line = next(ln for ln in c.get("/metrics").text.splitlines() if ln.startswith(line_start))
    return float(line.rsplit(" ", 1)[1])


@pytest.fixture(params=[0, 100], ids=["flat", "ivf"])
def opts(request: pytest.FixtureRequest) -> dict[str, int]:
    """The big user's snapshot scanned flat, or an inverted file (IVF-SQ8) from 100 vectors."""
    return {"stm_partial_user_vectors": 100, "stm_warm_users": 0, "stm_snapshot_ivf_vectors": request.param}


@pytest.fixture
def big_user(make_client: MakeClient, tmp_path: Path) -> tuple[Path, list[str]]:
    """A store holding a big user (BIG memories, half tagged) and a small one, shipped, the service stopped."""
    data = tmp_path / "data"
    c = make_client(data, stm_partial_user_vectors=100)
    items = [{"content": f"big fact {i} about topic{i % 7}", "metadata": {"half": i % 2}, "created_at": 1000.0 + i}
             for i in range(BIG)]  # fmt: skip
    ids = c.post("/v1/memories/batch", json={"user_id": "big", "items": items}).json()["ids"]
    c.post("/v1/memories", json={"user_id": "small", "content": "a small user's memory"})
    wait_shipped(c)
    c.__exit__(None, None, None)
    return data, ids


def test_a_big_user_is_served_partially_resident(
    make_client: MakeClient, big_user: tuple[Path, list[str]], opts: dict[str, int]
) -> None:
    data, ids = big_user
    c = make_client(data, **opts)
    hits = c.post("/v1/search", json={"user_id": "big", "query": "big fact 123 about topic4", "k": 3}).json()["results"]
    assert hits[0]["id"] == ids[123] and hits[0]["content"] == "big fact 123 about topic4"
    assert metric(c, "jm_stm_mapped_bytes") > 0, "the big user's vectors come from its snapshot"
    codes = faiss.read_index(str(snapshot_of(data) / "codes.faiss"))
    assert (faiss.try_extract_index_ivf(codes) is not None) == bool(opts["stm_snapshot_ivf_vectors"])
    assert c.get(f"/v1/memories/{ids[7]}", params={"user_id": "big"}).json()["content"] == "big fact 7 about topic0"
    filtered = c.post("/v1/search", json={"user_id": "big", "query": "big fact 8", "filters": {"half": 1}}).json()
    assert filtered["results"] and all(h["metadata"] == {"half": 1} for h in filtered["results"])
    # list, newest first, every id exactly once across pages
    seen: list[str] = []
    cursor = None
    while True:
        params = {"user_id": "big", "limit": 70, **({"cursor": cursor} if cursor else {})}
        page = c.get("/v1/memories", params=params).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    # writes on a partially resident user: add, update, delete
    new = c.post("/v1/memories", json={"user_id": "big", "content": "a brand new fact about zebras"}).json()["id"]
    assert top(c, "a brand new fact about zebras") == new
    c.patch(f"/v1/memories/{ids[5]}", params={"user_id": "big"}, json={"content": "corrected fact about giraffes"})
    hits = c.post("/v1/search", json={"user_id": "big", "query": "corrected fact about giraffes", "k": 1}).json()[
        "results"
    ]
    assert hits[0]["id"] == ids[5]
    assert c.delete(f"/v1/memories/{ids[9]}", params={"user_id": "big"}).status_code == 204
    assert c.get(f"/v1/memories/{ids[9]}", params={"user_id": "big"}).status_code == 404
    hits = c.post("/v1/search", json={"user_id": "big", "query": "big fact 9 about topic2", "k": 5}).json()["results"]
    assert ids[9] not in [h["id"] for h in hits]
    lines = [json.loads(x) for x in c.get("/v1/memories/export", params={"user_id": "big"}).text.splitlines()]
    assert len(lines) == BIG and {x["id"] for x in lines} == (set(ids) - {ids[9]}) | {new}
    # after a restart (nothing shipped yet, or all of it), the snapshot is reused and caught up
    wait_shipped(c)
    c.__exit__(None, None, None)
    c = make_client(data, **opts)
    assert c.get(f"/v1/memories/{ids[9]}", params={"user_id": "big"}).status_code == 404
    assert top(c, "corrected fact about giraffes") == ids[5]
    assert top(c, "a brand new fact about zebras") == new
    assert c.delete("/v1/memories", params={"user_id": "big"}).json()["forgotten"] == BIG
    assert not any((data / "index").iterdir()), "a forgotten user's snapshot goes too"


def test_a_big_user_does_not_evict_the_small_ones(
    make_client: MakeClient, big_user: tuple[Path, list[str]], opts: dict[str, int]
) -> None:
    data, _ = big_user
    c = make_client(data, **opts, stm_budget_bytes=1 << 20)
    for user in [f"s{i}" for i in range(10)]:
        c.post("/v1/memories/batch", json={"user_id": user, "items": [{"content": f"{user} {j}"} for j in range(5)]})
    for _ in range(5):
        c.post("/v1/search", json={"user_id": "big", "query": "big fact 3"})
    assert metric(c, "jm_stm_users") >= 11 and metric(c, "jm_stm_evictions_total") == 0


def test_a_grown_delta_is_compacted_into_a_new_snapshot(
    make_client: MakeClient, big_user: tuple[Path, list[str]], opts: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(residency, "COMPACT_MIN", 20)
    data, ids = big_user
    c = make_client(data, **opts)
    c.post("/v1/search", json={"user_id": "big", "query": "warm"})
    extra = c.post(
        "/v1/memories/batch", json={"user_id": "big", "items": [{"content": f"later {i}"} for i in range(40)]}
    )
    wait_shipped(c)
    before = json.loads(snapshot_of(data).joinpath("meta.json").read_text())["count"]
    deadline = time.monotonic() + 20
    while json.loads(snapshot_of(data).joinpath("meta.json").read_text())["count"] == before:
        assert time.monotonic() < deadline, "no compaction"
        time.sleep(0.2)
    later = extra.json()["ids"][17]
    assert (
        c.post("/v1/search", json={"user_id": "big", "query": "later 17", "k": 1}).json()["results"][0]["id"] == later
    )
    assert c.get(f"/v1/memories/{ids[0]}", params={"user_id": "big"}).status_code == 200


def lexical(c: TestClient, query: str, k: int = 100) -> list[str]:
    r = c.post("/v1/search", json={"user_id": "big", "query": query, "k": k, "mode": "lexical"})
    assert r.status_code == 200, r.text
    return [h["id"] for h in r.json()["results"]]


def test_a_big_users_words_are_searched_in_its_snapshot_and_since(
    make_client: MakeClient, big_user: tuple[Path, list[str]], opts: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot's texts through its BM25, the texts changed since in RAM, the changed version winning:
    exact before the store has the writes, after, across a restart, and after a compaction."""
    data, ids = big_user
    c = make_client(data, **opts)
    topic5 = {ids[i] for i in range(BIG) if i % 7 == 5}
    assert set(lexical(c, "topic5")) == topic5
    assert metric(c, "jm_stm_mapped_bytes") > 0, "the big user is partially resident"
    assert (snapshot_of(data) / "bm25").is_dir(), "the snapshot holds the user's BM25"
    c.patch(f"/v1/memories/{ids[5]}", params={"user_id": "big"}, json={"content": "corrected fact about giraffes"})
    c.patch(f"/v1/memories/{ids[19]}", params={"user_id": "big"}, json={"metadata": {"half": 7}})  # same text
    assert c.delete(f"/v1/memories/{ids[12]}", params={"user_id": "big"}).status_code == 204
    new = c.post("/v1/memories", json={"user_id": "big", "content": "zebras about topic5"}).json()["id"]
    expected = (topic5 - {ids[5], ids[12]}) | {new}

    def same_answers() -> None:
        found = lexical(c, "topic5")
        assert set(found) == expected and len(found) == len(expected), "each memory once"
        assert lexical(c, "giraffes") == [ids[5]]
        filtered = c.post(
            "/v1/search",
            json={"user_id": "big", "query": "topic5", "k": 100, "mode": "lexical", "filters": {"half": 1}},
        ).json()["results"]
        assert {h["id"] for h in filtered} == {i for i in expected - {ids[19]} if i in ids and ids.index(i) % 2}
        hybrid = c.post("/v1/search", json={"user_id": "big", "query": "giraffes", "k": 3, "explain": True}).json()
        assert hybrid["results"][0]["id"] == ids[5] and hybrid["results"][0]["explain"]["lexical"] > 0

    same_answers()
    wait_shipped(c)  # now in the store
    same_answers()
    c.__exit__(None, None, None)
    c = make_client(data, **opts)  # the changes since the snapshot read back from the store
    same_answers()
    monkeypatch.setattr(residency, "COMPACT_MIN", 20)
    before = json.loads(snapshot_of(data).joinpath("meta.json").read_text())["count"]
    c.post("/v1/memories/batch", json={"user_id": "big", "items": [{"content": f"later {i}"} for i in range(40)]})
    wait_shipped(c)
    deadline = time.monotonic() + 20
    while json.loads(snapshot_of(data).joinpath("meta.json").read_text())["count"] == before:
        assert time.monotonic() < deadline, "no compaction"
        time.sleep(0.2)
    same_answers()  # the new snapshot holds the changes


def test_a_row_changed_while_its_snapshot_is_built_is_caught_up(
    make_client: MakeClient, big_user: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build reads the user in chunks, each its own read: a row of the first chunk changed after that
    chunk was read, then a row of a later chunk changed, must still be found by the catch-up (the snapshot
    once covered the highest seq among its chunks, which passed the first change)."""
    data, ids = big_user
    monkeypatch.setattr(residency, "CHUNK", 100)
    read = residency._vector_chunks

    def chunks_with_writes_between(*args: Any) -> Any:
        for n, chunk in enumerate(read(*args)):
            yield chunk
            if n == 0:
                with sqlite3.connect(data / "ltm.db") as conn:
                    for memory_id, text in ((ids[5], "rewritten about okapis"), (ids[250], "big fact 250 again")):
                        conn.execute(
                            "UPDATE memories SET content = ?, seq = (SELECT max(seq) + 1 FROM memories) WHERE id = ?",
                            (text, memory_id),
                        )

    monkeypatch.setattr(residency, "_vector_chunks", chunks_with_writes_between)
    c = make_client(data, stm_partial_user_vectors=100, stm_warm_users=0)
    assert lexical(c, "okapis") == [ids[5]]
    assert ids[5] not in lexical(c, "topic5"), "its old text is not searched"
    assert metric(c, "jm_stm_mapped_bytes") > 0, "the big user is partially resident"


@pytest.mark.parametrize(("previous", "missing"), [(1, "bm25"), (2, "fields")])
def test_a_snapshot_of_a_previous_format_is_built_again_with_what_it_lacked(
    make_client: MakeClient, big_user: tuple[Path, list[str]], previous: int, missing: str
) -> None:
    """A snapshot written by an earlier release (format 1: no lexical index, `bm25/`; format 2: no filter
    columns, `fields/`) is not used: the user's snapshot is built again, with all of it."""
    data, ids = big_user
    c = make_client(data, stm_partial_user_vectors=100, stm_warm_users=0)
    assert ids[40] in lexical(c, "topic5")
    c.__exit__(None, None, None)
    folder = snapshot_of(data)
    shutil.rmtree(folder / missing)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "format": previous}))
    c = make_client(data, stm_partial_user_vectors=100, stm_warm_users=0)
    assert ids[40] in lexical(c, "topic5")
    filtered = {"user_id": "big", "query": "topic5", "k": 100, "mode": "lexical", "filters": {"half": 1}}
    assert {h["id"] for h in c.post("/v1/search", json=filtered).json()["results"]} == {
        ids[i] for i in range(BIG) if i % 7 == 5 and i % 2
    }
    assert (folder / "bm25").is_dir() and (folder / "fields").is_dir()
    assert json.loads((folder / "meta.json").read_text())["format"] == snapshot.FORMAT


def test_dedupe_of_a_partially_resident_user_without_scopes_finds_its_stored_duplicate(
    make_client: MakeClient, big_user: tuple[Path, list[str]]
) -> None:
    """No memory of the big user has a scope: an unscoped deduplicated add searches the whole index (no scan
    of the store for the scope) and names the stored memory it repeats; in a run, it is not a duplicate."""
    data, ids = big_user
    c = make_client(data, stm_partial_user_vectors=100, stm_warm_users=0)
    body = {"user_id": "big", "content": "big fact 7 about topic0", "dedupe": True}
    same = c.post("/v1/memories", json=body)
    assert same.status_code == 200 and same.json()["id"] == ids[7]
    assert metric(c, "jm_stm_mapped_bytes") > 0
    assert c.post("/v1/memories", json={**body, "run_id": "r"}).status_code == 201


@pytest.mark.parametrize("sample", [0, postfilter.SAMPLE], ids=["rounds", "estimated"])
def test_a_filtered_search_of_a_big_user_answers_as_its_scan_from_columns_or_candidates(
    make_client: MakeClient,
    big_user: tuple[Path, list[str]],
    opts: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    sample: int,
) -> None:
    """Three ways to a big user's filtered search give one ranking, scores and order included, with recent
    writes (changed texts, a changed filter field, deletes) both ways: the selection from its snapshot's
    columns; the filter checked on each leg's best candidates, asked for again until the pools are full
    (first rounds too small, or sized from a sample), where the columns cannot answer; and checking it on
    every memory (the store's scan)."""
    data, ids = big_user
    c = make_client(data, **opts, result_cache_size=0)  # each way answers for itself, not from the L1 cache
    c.patch(f"/v1/memories/{ids[8]}", params={"user_id": "big"}, json={"content": "giraffes about topic1"})
    c.patch(f"/v1/memories/{ids[10]}", params={"user_id": "big"}, json={"metadata": {"half": 1}})
    assert c.delete(f"/v1/memories/{ids[11]}", params={"user_id": "big"}).status_code == 204
    cases = [
        ({"created_at": {"$lt": 1040}}, "big fact about topic1"),  # 40 of 300, unrelated to the ranking
        ({"half": 1}, "giraffes topic1"),
        ({"$or": [{"half": 0}, {"created_at": {"$gte": 1290}}]}, "fact 17"),
        ({"created_at": {"$gte": 1299}}, "topic3"),  # one memory: more candidates than the user
    ]
    calls: list[str] = []
    real_selection, real_selected = partial_search.selection, partial_search.selected

    async def by_columns(*args: Any) -> Any:
        found = await real_selection(*args)
        calls.append("columns" if found is not None else "none")
        return found

    async def by_candidates(*args: Any, **kwargs: Any) -> list[str] | None:
        found = await real_selected(*args, **kwargs)
        calls.append("candidates" if found is not None else "none")
        return found

    async def scan(*args: Any, **kwargs: Any) -> None:
        return None

    def answers() -> list[list[tuple[str, float]]]:
        calls.clear()
        return rankings.answers(c, "big", cases)

    monkeypatch.setattr(postfilter, "SAMPLE", sample)
    monkeypatch.setattr(postfilter, "FIRST_ROUND", 1)  # without a sample, a first round too small
    monkeypatch.setattr(partial_search, "selection", by_columns)
    monkeypatch.setattr(partial_search, "selected", by_candidates)
    from_columns = answers()
    assert calls and set(calls) == {"columns"}, "every search was answered from the columns"
    monkeypatch.setattr(partial_search, "selection", scan)
    from_candidates = answers()
    if opts["stm_snapshot_ivf_vectors"]:  # where the lists it probes run out, an inverted file is scanned
        assert "candidates" in calls and set(calls) <= {"candidates", "none"}, calls
    else:
        assert calls and set(calls) == {"candidates"}, "every search was answered from candidates"
    monkeypatch.setattr(partial_search, "selected", scan)
    from_scan = answers()
    assert [tied(hits) for hits in from_columns] == [tied(hits) for hits in from_scan]
    # Checked on candidates, the legs' pools are cut among fewer memories: where many tie at a pool's edge
    # (these texts differ by a number), other tied memories may join a pool. So: as many, all selected.
    assert [len(hits) for hits in from_candidates] == [len(hits) for hits in from_scan]
    for n, (filters, _) in enumerate(cases):
        chosen = rankings.selected(c, "big", filters)
        assert all(i in chosen for hits in from_candidates[3 * n : 3 * n + 3] for i, _ in hits), filters
    assert all(ids[11] != i for hits in from_columns for i, _ in hits)


def test_a_filtered_list_of_a_big_user_pages_from_its_columns_as_its_scan(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filtered list page of a partially resident user, from its snapshot's columns, is the scan's: the
    same memories in the same order, page after page, with memories that share a creation time (ordered
    by id), recent writes and deletes."""
    data = tmp_path / "data"
    c = make_client(data, stm_partial_user_vectors=100)
    items = [{"content": f"fact {i}", "metadata": {"half": i % 2}, "created_at": 1000.0 + i // 10} for i in range(BIG)]
    ids = c.post("/v1/memories/batch", json={"user_id": "big", "items": items}).json()["ids"]
    wait_shipped(c)
    c.__exit__(None, None, None)
    c = make_client(data, stm_partial_user_vectors=100, stm_warm_users=0)
    c.patch(f"/v1/memories/{ids[31]}", params={"user_id": "big"}, json={"metadata": {"half": 0}})
    assert c.delete(f"/v1/memories/{ids[33]}", params={"user_id": "big"}).status_code == 204
    c.post("/v1/memories", json={"user_id": "big", "content": "new", "metadata": {"half": 1}, "created_at": 1005.0})
    calls: list[bool] = []
    real = partial_search.selection

    async def counted(*args: Any) -> Any:
        found = await real(*args)
        calls.append(found is not None)
        return found

    async def scan(*args: Any) -> None:
        return None

    for filters in ({"half": 0}, {"half": 1, "created_at": {"$lt": 1020}}, {"half": {"$in": [0, 1]}}):
        monkeypatch.setattr(partial_search, "selection", counted)
        from_columns = rankings.pages(c, "big", filters, 7)
        assert calls and all(calls), "answered from the columns"
        monkeypatch.setattr(partial_search, "selection", scan)
        assert rankings.pages(c, "big", filters, 7) == from_columns, filters
    assert metric(c, "jm_stm_mapped_bytes") > 0
