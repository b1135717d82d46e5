"""Opt-in deduplication: an add whose content is a near-duplicate of one of the user's memories
creates nothing and names the memory it duplicates.

Near means cosine similarity at least `JM_DEDUP_THRESHOLD` between the new content's vector and the
user's closest memory (the user's own index, after the read-your-writes wait), or the same text as a
memory still waiting for its vector. A duplicate must be in the new memory's own scope (the same
`agent_id` and `run_id`, None matching only None), as mem0 scopes it: a fact added without a scope is never
folded into a session's memory that forgetting the session would delete. Only requests that ask for it
(`"dedupe": true`) pay for it: the
content is embedded on the write path, on the model's priority lane, and the vector is kept for the
memory if it is created, so the model runs once either way. Two concurrent deduplicated adds of the
same text may both be created (neither sees the other in time); one request's items are compared with
each other too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from jean_memory.cooperative import Slices
from jean_memory.embedding.worker import EmbeddingWorker
from jean_memory.memory import ALL, Memory, Scope
from jean_memory.storage.large.records import PartialRecords
from jean_memory.storage.stm import ShortTermTier, UserSpace


@dataclass(slots=True)
class Verdict:
    """For one item: the stored memory it duplicates, or the earlier item of the same request it
    duplicates (`same_as`), or neither; and its content's vector (kept for the memory if created)."""

    duplicate: Memory | None
    same_as: int | None
    vector: np.ndarray


class Deduplicator:
    def __init__(self, stm: ShortTermTier, worker: EmbeddingWorker, threshold: float) -> None:
        self._stm = stm
        self._worker = worker
        self.threshold = threshold

    async def judge(
        self, space: UserSpace, contents: Sequence[str], now: float, scopes: Sequence[Scope] | None = None
    ) -> list[Verdict]:
        """`space` is the user's current space (the caller made it complete and waited for its pending
        vectors); `scopes`, each content's scope (default: every one unscoped)."""
        scopes = scopes if scopes is not None else [ALL] * len(contents)
        vectors = await self._worker.embed_now(list(contents))
        slices = Slices()
        await slices.next_slice()  # the embedder's last call ran in this callback: a fresh one for the rest
        pending_texts: dict[tuple[str, Scope], Memory] = {}
        for m in (*space.pending, *space.unembedded):
            memory = space.records.get(m)
            if memory is not None and not memory.expired(now):
                pending_texts[(memory.content, memory.scope)] = memory
            await slices.pause()
        # Per scope, the ids a duplicate may be among: exactly that scope's (a scan of the user, or of the
        # store for a partially resident user); None, the whole index: an unscoped item of a partially
        # resident user with no scoped memory at all (its scan would read every row of the store).
        allowed: dict[Scope, list[str] | None] = {}
        for scope in set(scopes):
            if not scope and isinstance(space.records, PartialRecords) and not space.records.has_scoped():
                allowed[scope] = None
            else:
                allowed[scope] = await self._stm.matching(space, None, scope, exact=True)
        verdicts: list[Verdict] = []
        first_with_text: dict[tuple[str, Scope], int] = {}
        for i, (content, vector) in enumerate(zip(contents, vectors, strict=True)):
            scope = scopes[i]
            duplicate = pending_texts.get((content, scope))
            among = allowed[scope]
            if duplicate is None and (among is None or among):
                hits = await self._stm.search(space, vector, 1, among, now)
                if hits and hits[0][1] >= self.threshold:
                    duplicate = hits[0][0]
            same_as = None
            if duplicate is None:
                similar = vectors[:i] @ vector
                similar[[j for j in range(i) if scopes[j] != scope]] = -1.0  # only an item of the same scope
                same_as = _earliest(first_with_text.get((content, scope)), similar, self.threshold)
            first_with_text.setdefault((content, scope), i)
            verdicts.append(Verdict(duplicate, same_as, vector))
            await slices.pause()
        return verdicts


def _earliest(same_text: int | None, similarities: np.ndarray, threshold: float) -> int | None:
    """The first earlier item with the same text or a similar enough vector."""
    near = np.flatnonzero(similarities >= threshold)
    candidates = [j for j in (same_text, int(near[0]) if near.size else None) if j is not None]
    return min(candidates) if candidates else None
