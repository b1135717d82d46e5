"""A partially resident user's search: what a filter lets its legs rank, and its lexical leg.

Its records are in the store and its vectors and texts in a memory-mapped snapshot, so nothing here
walks the user's memories one by one:

- `selection`: the filter evaluated over the snapshot's columns (`filter_masks`), the memories changed
  since the snapshot by the predicate in RAM;
- `candidates`: for a filter the columns cannot answer, the filter checked on each leg's best candidates
  (`core.postfilter`);
- `lexical`: the snapshot's BM25 and the changed memories' BM25 in RAM, merged;
- `page`: a page of a filtered list from a selection, newest first.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable

import numpy as np

from jean_memory.core import postfilter
from jean_memory.core.fusion import POOL, SearchOptions
from jean_memory.core.lexical_rank import ranked
from jean_memory.core.postfilter import Ranking, estimate, selected
from jean_memory.filters import Filter
from jean_memory.memory import Memory, Scope
from jean_memory.storage.large.filter_masks import compile_mask
from jean_memory.storage.large.layered import LayeredIndex
from jean_memory.storage.large.records import PartialRecords
from jean_memory.storage.large.selection import Selection
from jean_memory.storage.lexical import tokenize
from jean_memory.storage.stm import UserSpace


async def selection(
    partial: PartialRecords, index: LayeredIndex, filters: Filter, scope: Scope, now: float
) -> Selection | None:
    """What the filter selects of the user, in a worker thread: the snapshot's positions from its columns,
    the memories changed since by the predicate. None where the columns cannot answer the filter."""
    mask = compile_mask(json.loads(filters.canonical))
    since_ids, upto = partial.since_ids, len(partial.since_ids)
    changed = list(partial.since.items())  # a copy, taken on the loop

    def select() -> Selection | None:
        base = index.selection(mask, scope, now, since_ids, upto)
        if base is None:
            return None
        chosen = [
            i for i, m in changed
            if m is not None and not m.expired(now) and m.in_scope(scope) and filters.matches(m)
        ]  # fmt: skip
        return Selection(base, chosen)

    return await asyncio.to_thread(select)


async def candidates(
    space: UserSpace, partial: PartialRecords, index: LayeredIndex, query: str, qvec: np.ndarray | None, k: int,
    filters: Filter, scope: Scope, options: SearchOptions, now: float,
) -> list[str] | None:  # fmt: skip
    """The selected among each leg's best candidates (`postfilter.selected`); None where they do not
    suffice (the caller scans the store)."""
    rankings: list[Ranking] = []
    if qvec is not None:
        rankings.append(lambda n: _by_vector(index, qvec, n))
    if options.mode != "vector" or space.pending or space.unembedded:
        words = tokenize([query])[0]
        rankings.append(lambda n: _by_snapshot_words(partial, index, words, n))
        rankings.append(lambda n: _by_changed_words(space, partial, query, n, now))

    def check(ids: list[str]) -> Awaitable[set[str]]:
        return partial.select(ids, filters, scope, now)

    share = await estimate(index.sample(postfilter.SAMPLE), check)
    return await selected(rankings, check, max(POOL, 2 * k), share)


async def _by_vector(index: LayeredIndex, qvec: np.ndarray, n: int) -> list[str]:
    found = [i for i, _ in await index.search_off_loop(qvec, n)]
    if len(found) < min(n, len(index)):  # the inverted lists it probed ran out: not a ranking of all
        raise postfilter.Incomplete
    return found


async def _by_snapshot_words(partial: PartialRecords, index: LayeredIndex, words: list[str], n: int) -> list[str]:
    found = await asyncio.to_thread(index.lexical_top, words, n, None, partial.since_ids, len(partial.since_ids))
    return [i for i, _ in found]


async def _by_changed_words(space: UserSpace, partial: PartialRecords, query: str, n: int, now: float) -> list[str]:
    order, records = partial.lexical_view()
    built = await space.text_index.current(order, records)
    return [m.id for m, _ in (await ranked(built, records, query, n, None, now))[0]]


async def lexical(
    space: UserSpace, partial: PartialRecords, query: str, pool: int, allowed: list[str] | Selection | None,
    now: float,
) -> tuple[list[tuple[Memory, float]], float]:  # fmt: skip
    """The lexical leg: the texts the snapshot holds ranked by its BM25 (in a worker thread; the memories
    changed since score nothing there), the changed ones (`PartialRecords.since`) by BM25 in RAM; each
    divided by its own best (the two BM25s count over different sets of texts), the changed version
    winning."""
    index = space.index
    if not isinstance(index, LayeredIndex):
        raise TypeError("a partially resident user is searched through its snapshot")
    words = tokenize([query])[0]
    found = await asyncio.to_thread(index.lexical_top, words, pool, allowed, partial.since_ids, len(partial.since_ids))
    rows = await partial.read_many([i for i, _ in found])
    best = found[0][1] if found else 0.0
    merged = {i: (m, s / best) for i, s in found if (m := rows.get(i)) is not None and not m.expired(now)}
    order, records = partial.lexical_view()
    built = await space.text_index.current(order, records)
    among = allowed.changed if isinstance(allowed, Selection) else allowed
    changed, best = await ranked(built, records, query, pool, among, now)
    merged.update((m.id, (m, s / best)) for m, s in changed)
    return sorted(merged.values(), key=lambda h: -h[1]), 1.0


async def page(
    partial: PartialRecords, index: LayeredIndex, chosen: Selection, filters: Filter, limit: int,
    before: tuple[float, str] | None, now: float,
) -> list[Memory]:  # fmt: skip
    """The newest `limit` memories of a selection strictly before the position `before` (created_at, id):
    the snapshot's found from its `created_at` column in a worker thread, then read by id; the changed ones
    from RAM. Each is checked with the predicate again (the columns compare strings by digest)."""
    stored = await asyncio.to_thread(index.base.newest, chosen.base, limit, before)
    records = await partial.read_many(stored)
    changed = [m for i in chosen.changed if (m := partial.since.get(i)) is not None]
    found = [
        m for m in (*(records[i] for i in stored if i in records), *changed)
        if (before is None or (m.created_at, m.id) < before) and not m.expired(now) and filters.matches(m)
    ]  # fmt: skip
    found.sort(key=lambda m: (m.created_at, m.id), reverse=True)
    return found[:limit]
