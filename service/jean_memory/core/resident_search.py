"""A resident user's filtered search and list page, without checking the filter on every memory.

A resident user's records are all in RAM, so the exact way to a filtered search, finding every memory
the filter selects and ranking among them (`matching`), costs one predicate per memory: at the size past
which a user becomes partially resident, about the whole hot search goal. Two shortcuts give the same
answer where they apply, and the scan stays where they do not:

- `candidates`: each leg ranks the user without the filter and the filter is checked on its best
  candidates only, asked for again until the leg has its pool of selected ones (`core.postfilter`, as for
  a partially resident user). A leg's best selected memories are among its candidates, so the legs rank
  the same memories as after a scan. It is tried only where the sample's share, less its noise, says
  the candidates will be fewer than half the user (a narrow filter is cheaper to scan), and only over an
  exact vector index
  (an HNSW graph's top n is approximate: its filtered search is the scan's exact one).
- `page`: a filtered list page walks the user's creation order from the cursor, newest first, checking
  each memory until the page is full: for a filter that selects a fair share, a few memories a page. The
  walk stops after `PAGE_CHECKS` memories, and the scan answers.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Awaitable

import numpy as np

from jean_memory.core import postfilter
from jean_memory.core.fusion import POOL, SearchOptions
from jean_memory.core.lexical_rank import ranked
from jean_memory.core.postfilter import Ranking, estimate, first_round, selected
from jean_memory.filters import Filter
from jean_memory.memory import Memory, Scope
from jean_memory.storage.records import WholeRecords
from jean_memory.storage.stm import UserSpace
from jean_memory.storage.vector_index import IndexKind, UserIndex

#: Memories a filtered page looks at before it leaves the page to the scan (short beside a loop hold).
PAGE_CHECKS = 2048
#: The candidates are tried where the checks they need first are at most this share of the user.
SCAN_SHARE = 0.5


async def candidates(
    space: UserSpace, records: WholeRecords, query: str, qvec: np.ndarray | None, k: int, filters: Filter,
    scope: Scope, options: SearchOptions, now: float,
) -> list[str] | None:  # fmt: skip
    """The selected among each leg's best candidates; None where a scan is the cheaper or the exact way."""
    index = space.index
    if not isinstance(index, UserIndex) or index.kind is IndexKind.HNSW:
        return None
    rankings: list[Ranking] = []
    if qvec is not None:
        rankings.append(lambda n: _by_vector(index, qvec, n))
    if options.mode != "vector" or space.pending or space.unembedded:
        rankings.append(lambda n: _by_words(space, records, query, n, now))

    def check(ids: list[str]) -> Awaitable[set[str]]:
        return _check(records, ids, filters, scope, now)

    pool = max(POOL, 2 * k)
    sample = _sample(records, postfilter.SAMPLE)
    share = await estimate(sample, check)
    if share is not None:
        cautious = _cautious(share, len(sample))
        if not cautious or len(rankings) * first_round(pool, cautious) > SCAN_SHARE * len(records):
            return None
    return await selected(rankings, check, pool, share)


def _cautious(share: float, sampled: int) -> float:
    """The share less two standard deviations of its count: a sample of a narrow filter that happened to
    hold a few more than its share must not send the search into candidates that a scan beats."""
    hits = share * sampled
    return max(0.0, hits - 2 * math.sqrt(hits)) / sampled


def page(
    records: WholeRecords, filters: Filter, limit: int, before: tuple[float, str] | None, now: float, scope: Scope
) -> list[Memory] | None:
    """The newest `limit` memories the filter selects strictly before `before` (created_at, id), walked
    from there without pausing (the order must not move under it); None where `PAGE_CHECKS` memories
    did not fill the page and more remain."""
    order = records.order
    end = len(order) if before is None else bisect.bisect_left(order, before)
    out: list[Memory] = []
    for position in range(end - 1, max(-1, end - 1 - PAGE_CHECKS), -1):
        memory = records[order[position][1]]
        if not memory.expired(now) and memory.in_scope(scope) and filters.matches(memory):
            out.append(memory)
            if len(out) == limit:
                return out
    return out if end <= PAGE_CHECKS else None


async def _by_vector(index: UserIndex, qvec: np.ndarray, n: int) -> list[str]:
    return [i for i, _ in index.search(qvec, n)]


async def _by_words(space: UserSpace, records: WholeRecords, query: str, n: int, now: float) -> list[str]:
    order, texts = records.lexical_view()
    built = await space.text_index.current(order, texts)
    return [m.id for m, _ in (await ranked(built, texts, query, n, None, now))[0]]


async def _check(records: WholeRecords, ids: list[str], filters: Filter, scope: Scope, now: float) -> set[str]:
    chosen = set()
    for i in ids:
        memory = records.get(i)
        if memory is not None and not memory.expired(now) and memory.in_scope(scope) and filters.matches(memory):
            chosen.add(i)
    return chosen


def _sample(records: WholeRecords, n: int) -> list[str]:
    """Up to `n` ids drawn at random from the user's creation order (for the estimate)."""
    order = records.order
    if not n or not order:
        return []
    return [order[p][1] for p in random.sample(range(len(order)), min(n, len(order)))]
