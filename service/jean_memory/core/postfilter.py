"""A filtered search of a partially resident user without scanning it: the filter checked on candidates.

The first way is the user's snapshot columns (`filter_masks`, `storage/large/snapshot_fields.py`): they answer
most filters for every memory at once. This is the second, for a filter they cannot answer (an ordering
of strings, numbers past float64's exact integers, a user with too many metadata keys).

The exact way to a filtered search is to find every memory the filter selects (`matching`) and rank
among them. A partially resident user's records are in the store, so that is a scan of all its rows, and it
grows with the user. But where a filter selects a fair share of the user, each leg's best selected
memories are among its best memories anyway: each leg ranks the user without the filter (`Ranking`), the
filter is checked on those candidates only (`Check`: lookups by id), and more are asked for until the leg
has its pool of selected ones or its ranking ends. How many to ask for first comes from the share of a
random sample of the user that the filter selects (`SAMPLE`), as a query planner estimates selectivity:
most searches then need one round per leg. The selected candidates are then what the legs rank:
the same top k as after a scan, since every selected memory better than a leg's pool is among that
leg's candidates (up to the order of memories tied at a pool's edge). A filter too narrow to fill the
pools within `MAX_CANDIDATES`, or a ranking that ends before it ranked every memory (an inverted file's
probed lists), falls back to the scan.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence

#: The best `n` ids of one leg, without the filter, best first (fewer only when the leg has no more).
Ranking = Callable[[int], Awaitable[list[str]]]
#: Which of these ids the filter (and the scope, expiry) selects.
Check = Callable[[list[str]], Awaitable[set[str]]]


class Incomplete(Exception):
    """A ranking that ended before it ranked every memory (an inverted file's probed lists ran out): the
    candidates it gave are not all the best selected ones, so the caller scans."""


#: Memories sampled to estimate the share the filter selects (0: no estimate).
SAMPLE = 256
#: Candidates per pool slot asked for first, without an estimate.
FIRST_ROUND = 4
#: Candidates per leg past which a scan is the cheaper way.
MAX_CANDIDATES = 8192
#: Headroom over the share the last round selected, when asking again.
MARGIN = 1.5


async def estimate(sample: list[str], check: Check) -> float | None:
    """The share of `sample` (memories drawn at random) that the filter selects; None without a sample."""
    if not sample:
        return None
    return len(await check(sample)) / len(sample)


def first_round(pool: int, share: float | None) -> int:
    """Candidates to ask a leg for first: enough for `pool` selected ones at the estimated `share`, with
    `MARGIN`; all it may ask for where the sample held none."""
    if share is None:
        return pool * FIRST_ROUND
    if not share:
        return MAX_CANDIDATES
    return min(MAX_CANDIDATES, max(pool, math.ceil(MARGIN * pool / share)))


async def selected(rankings: Sequence[Ranking], check: Check, pool: int, share: float | None) -> list[str] | None:
    """Each leg's best `pool` selected memories (all it has where fewer), together; None where a leg needs
    more than `MAX_CANDIDATES` candidates or its ranking is `Incomplete` (the caller scans instead).
    `share`: `estimate`'s."""
    verdict: dict[str, bool] = {}
    chosen: set[str] = set()
    for rank in rankings:
        want = first_round(pool, share)
        while True:
            try:
                ranked = await rank(want)
            except Incomplete:
                return None
            new = [i for i in ranked if i not in verdict]
            if new:
                ok = await check(new)
                verdict.update((i, i in ok) for i in new)
            hits = [i for i in ranked if verdict[i]]
            if len(hits) >= pool or len(ranked) < want:
                chosen.update(hits[:pool])
                break
            if want >= MAX_CANDIDATES:
                return None
            share = len(hits) / len(ranked)
            guess = math.ceil(MARGIN * pool / share) if share else 16 * want
            want = min(MAX_CANDIDATES, max(2 * want, guess))
    return sorted(chosen)
