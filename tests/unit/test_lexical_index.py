"""A bigger user's lexical index between builds: the last build patched with the changes since.

Membership must be exact at once (a deleted or replaced text never matches, a new one always does), the
scores of the new texts must be the build's BM25 (same statistics, same formula as `bm25s`), and enough
changes start a build in a worker thread that replaces the patched view.
"""

from __future__ import annotations

import asyncio
import bisect

import numpy as np
import pytest

from jean_memory.memory import Memory
from jean_memory.storage.lexical import (
    BUILD_ON_LOOP_BELOW,
    REBUILD_MIN_CHANGES,
    Built,
    LexicalIndex,
    Patched,
    build,
    tokenize,
)

WORDS = ["river", "garden", "piano", "mountain", "coffee", "letter", "window", "bicycle", "market", "lantern"]


class User:
    """The records and time order a user space keeps, driving a LexicalIndex as the tier does."""

    def __init__(self, size: int) -> None:
        self.records: dict[str, Memory] = {}
        self.order: list[tuple[float, str]] = []
        self.index = LexicalIndex()
        for n in range(size):
            # An hour apart: no memory lends its words to the next, so every document is its own text.
            self.put(f"m{n}", f"{WORDS[n % len(WORDS)]} {WORDS[(n * 7) % len(WORDS)]} note {n}", n * 3600.0)

    def put(self, mid: str, text: str, at: float | None = None) -> None:
        old = self.records.get(mid)
        created = old.created_at if old is not None else (at if at is not None else 10_000_000.0 + len(self.records))
        if old is not None:
            self.order.remove((old.created_at, mid))
        memory = Memory(id=mid, user_id="u", content=text, metadata={}, salience=0.5, created_at=created)
        self.records[mid] = memory
        bisect.insort(self.order, (created, mid))
        self.index.changed(mid)

    def remove(self, mid: str) -> None:
        memory = self.records.pop(mid)
        self.order.remove((memory.created_at, mid))
        self.index.changed(mid)

    async def current(self) -> Built | Patched:
        return await self.index.current(self.order, self.records)

    def matches(self, view: Built | Patched, query: str) -> set[str]:
        scores = view.scores(tokenize([query])[0])
        return {view.ids[i] for i in np.flatnonzero(scores > 0)}


def fresh(user: User) -> Built:
    return build(0, user.order, user.records, {}, 0.0)


@pytest.mark.parametrize("query", ["zanzibar", "quokka", "wombat", "platypus", "piano", "river garden"])
def test_changes_since_the_build_match_exactly(query: str) -> None:
    async def scenario() -> None:
        user = User(4 * BUILD_ON_LOOP_BELOW)
        assert isinstance(await user.current(), Built)  # the first search waits for a whole build
        user.put("m1", "quokka piano")  # one memory's text, replaced below
        user.put("m2", "platypus")  # one memory, removed below
        await asyncio.sleep(0)
        user.put("m1", "wombat piano")
        user.remove("m2")
        user.put("new", "zanzibar river")
        view = await user.current()
        assert isinstance(view, Patched)  # three changes: patched, no build waited for
        assert user.matches(view, query) == user.matches(fresh(user), query)

    asyncio.run(scenario())


def test_a_new_text_scores_as_a_build_with_it_would() -> None:
    """The build's statistics for a new text: equal to a whole build's when the new text adds no document
    frequency that changes the weights much; here checked against the formula on a build that holds it."""

    async def scenario() -> None:
        user = User(4 * BUILD_ON_LOOP_BELOW)
        await user.current()
        user.put("new", "lantern coffee lantern")
        view = await user.current()
        assert isinstance(view, Patched)
        words = tokenize(["lantern coffee"])[0]
        patched_score = float(view.scores(words)[view.position["new"]])
        whole = fresh(user)
        whole_score = float(whole.scores(words)[whole.position["new"]])
        assert patched_score == pytest.approx(whole_score, rel=0.05)

    asyncio.run(scenario())


def test_enough_changes_start_a_build_that_replaces_the_patch() -> None:
    async def scenario() -> None:
        user = User(4 * BUILD_ON_LOOP_BELOW)
        await user.current()
        for n in range(REBUILD_MIN_CHANGES):
            user.put(f"extra{n}", f"zanzibar {n}")
        view = await user.current()
        assert isinstance(view, Patched)  # answered at once, the build runs in a worker thread
        for _ in range(200):
            await asyncio.sleep(0.01)
            if user.index.built is not None and user.index.built.generation == user.index.generation:
                break
        rebuilt = await user.current()
        assert isinstance(rebuilt, Built) and rebuilt.generation == user.index.generation
        assert user.matches(rebuilt, "zanzibar") == {f"extra{n}" for n in range(REBUILD_MIN_CHANGES)}

    asyncio.run(scenario())


def test_a_user_written_and_never_searched_keeps_no_change_log() -> None:
    async def scenario() -> None:
        user = User(BUILD_ON_LOOP_BELOW)
        await user.current()
        for n in range(10 * BUILD_ON_LOOP_BELOW):
            user.put(f"w{n}", f"word {n}")
        assert user.index.built is None  # the log was dropped with the build: the next search builds whole
        assert user.matches(await user.current(), "word") == {f"w{n}" for n in range(10 * BUILD_ON_LOOP_BELOW)}

    asyncio.run(scenario())


def test_a_dropped_build_lends_its_stems_to_the_next_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole build after a dropped one stems only the texts written since: the unchanged texts' stems
    are the dropped build's, and their size (not the dropped matrix's) is counted while they are held."""
    from jean_memory.storage import lexical

    async def scenario() -> None:
        user = User(BUILD_ON_LOOP_BELOW)
        first = await user.current()
        assert isinstance(first, Built) and first.nbytes > 0
        for n in range(10 * BUILD_ON_LOOP_BELOW):
            user.put(f"w{n}", f"word {n}")
        assert user.index.built is None and 0 < user.index.nbytes == first.words_nbytes < first.nbytes
        stemmed: list[str] = []
        real = lexical.tokenize

        def counting(texts: list[str]) -> list[list[str]]:
            stemmed.extend(texts)
            return real(texts)

        monkeypatch.setattr(lexical, "tokenize", counting)
        rebuilt = await user.current()
        assert sorted(stemmed) == sorted(f"word {n}" for n in range(10 * BUILD_ON_LOOP_BELOW))
        assert user.matches(rebuilt, "note") == set(user.records) - {f"w{n}" for n in range(10 * BUILD_ON_LOOP_BELOW)}

    asyncio.run(scenario())
