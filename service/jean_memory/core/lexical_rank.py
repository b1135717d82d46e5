"""A user's best memories by BM25 from its in-RAM lexical index: the lexical leg of a resident user's
search, and of the memories a partially resident user changed since its snapshot."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import numpy as np

from jean_memory.memory import Memory
from jean_memory.storage.lexical import Built, Patched, tokenize

#: A user with this many lexical documents or more is scored by BM25 in a worker thread.
SCORE_ON_LOOP_BELOW = 20_000


async def ranked(
    built: Built | Patched, records: Mapping[str, Memory], query: str, pool: int, allowed: list[str] | None,
    now: float,
) -> tuple[list[tuple[Memory, float]], float]:  # fmt: skip
    """The best `pool` memories for `query` (among `allowed` ids when given; expired ones left out) and
    their BM25, best first, and the best BM25 among them (0 when none matched)."""
    if not built.ids:
        return [], 0.0
    words = tokenize([query])[0]
    if len(built.ids) >= SCORE_ON_LOOP_BELOW:
        scores = await asyncio.to_thread(built.scores, words)
    else:
        scores = built.scores(words)
    if allowed is not None:
        mask = np.zeros(len(built.ids), dtype=bool)
        mask[[p for i in allowed if (p := built.position.get(i)) is not None]] = True
        scores = np.where(mask, scores, 0.0)
    matched = int(np.count_nonzero(scores > 0))
    if not matched:
        return [], 0.0
    want = min(matched, pool)
    order_idx = np.argpartition(-scores, want - 1)[:want] if want < len(scores) else np.arange(len(scores))
    top = sorted((int(i) for i in order_idx if scores[i] > 0), key=lambda i: -scores[i])
    out: list[tuple[Memory, float]] = []
    for i in top:
        memory = records.get(built.ids[i])
        if memory is not None and not memory.expired(now):
            out.append((memory, float(scores[i])))
    return out, (out[0][1] if out else 0.0)
