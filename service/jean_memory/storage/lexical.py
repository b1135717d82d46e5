"""A user's lexical index: BM25 (`bm25s`) over Snowball-stemmed words (`PyStemmer`), beside the vectors.

On the LoCoMo conversations a plain BM25 finds the evidence more often than MiniLM alone, and the two
fused more often than either (docs/performance.md, recall section): the search use case ranks by both.

BM25's weights depend on the whole user (document frequencies, average length), so the index is built
whole, lazily: every change of a text marks it stale (`changed`), and the next search builds it again
from the user's current records. Exact by construction: what a search ranks is the text the user holds
at that moment, deleted and replaced texts never linger. A memory's words are stemmed once and reused
by later builds while its text is unchanged. Builds of more than a handful of memories run in a worker
thread, one at a time per user; searches that need the same state share the build.

Each memory is indexed with the words of the memory written just before it (`CONTEXT`), when that one
was written strictly earlier and at most `CONTEXT_WINDOW_S` before (the same conversation; a batch's
items, written at one instant, lend nothing to each other): conversational memories are stored a turn at
a time, and the turn that names the subject is often the one before the turn that answers (on LoCoMo,
recall@10 of the fusion went from 0.64 to 0.72 with it). Expired memories are left out of a build, and
a build is stale from the moment the first memory it holds expires, so an expired text lends no words.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

from jean_memory.memory import Memory

#: Memories indexed on the event loop; a bigger user is built in a worker thread.
BUILD_ON_LOOP_BELOW = 48
#: How many earlier memories (in time order) lend their words to a memory's lexical document.
CONTEXT = 1
#: How much earlier a memory may have been written and still lend its words.
CONTEXT_WINDOW_S = 600.0

_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    """One stemmer per thread (a PyStemmer object is not safe to share between threads)."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


_WORD = re.compile(r"(?u)\b\w\w+\b")


_STOP = frozenset(STOPWORDS_EN)


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased words (bm25s's token pattern), English stopwords dropped (bm25s's list), Snowball-
    stemmed: the stemmed BM25 baseline's tokens, without `bm25s.tokenize`'s per-call vocabulary (a
    tenth of the time for one query)."""
    stemmer = _stemmer()
    out: list[list[str]] = []
    for text in texts:
        out.append(stemmer.stemWords([w for w in _WORD.findall(text.lower()) if w not in _STOP]))
    return out


def fts_query(text: str) -> str:
    """An FTS5 query for `text`: its words (English stopwords dropped), each quoted, any of them (FTS5's
    Porter tokenizer stems them as it stemmed the stored texts)."""
    words = dict.fromkeys(w for w in _WORD.findall(text.lower()) if w not in _STOP)
    return " OR ".join(f'"{w}"' for w in words)


@dataclass(slots=True)
class Built:
    """One build: BM25 over `ids` (time order), and the stemmed words of each text it saw."""

    generation: int
    #: When the first memory this build holds expires (then it is stale); None: none expires.
    expires: float | None
    ids: list[str]
    position: dict[str, int]
    bm25: bm25s.BM25 | None  # None: no words at all
    words: dict[str, tuple[str, list[str]]]

    def scores(self, query_words: list[str]) -> np.ndarray:
        if self.bm25 is None or not query_words:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(query_words), dtype=np.float32)

    @property
    def nbytes(self) -> int:
        """RAM of the index (the BM25 matrix and vocabulary; the cached words at a flat rate per word)."""
        size = 64 * len(self.ids) + sum(8 + 24 * len(w) for _, w in self.words.values())
        if self.bm25 is not None:
            size += sum(int(a.nbytes) for a in self.bm25.scores.values() if isinstance(a, np.ndarray))
            size += 80 * len(self.bm25.vocab_dict)
        return size


def build(
    generation: int, order: Sequence[tuple[float, str]], records: Mapping[str, Memory],
    words: dict[str, tuple[str, list[str]]], now: float,
) -> Built:  # fmt: skip
    """BM25 over the user's live texts in time order (`order`, `records`: copies the caller took at
    `generation`), reusing the stems of texts the last build saw."""
    live = [m for _, mid in order if (m := records.get(mid)) is not None and not m.expired(now)]
    expiries = [m.expires_at for m in live if m.expires_at is not None]
    docs = [(m.id, m.content) for m in live]
    fresh = {mid: w for mid, text in docs if (w := words.get(mid)) is not None and w[0] == text}
    todo = [(mid, text) for mid, text in docs if mid not in fresh]
    for (mid, text), stems in zip(todo, tokenize([t for _, t in todo]), strict=True):
        fresh[mid] = (text, stems)
    ids = [mid for mid, _ in docs]
    corpus: list[list[str]] = []
    for i, mid in enumerate(ids):
        doc = list(fresh[mid][1])
        for j in range(i - 1, max(0, i - CONTEXT) - 1, -1):
            gap = live[i].created_at - live[j].created_at
            if not 0 < gap <= CONTEXT_WINDOW_S:
                break
            doc += fresh[ids[j]][1]
        corpus.append(doc)
    index: bm25s.BM25 | None = None
    if any(corpus):
        index = bm25s.BM25()
        index.index(corpus, show_progress=False)
    return Built(generation, min(expiries, default=None), ids, {mid: i for i, mid in enumerate(ids)}, index, fresh)


class LexicalIndex:
    """One user's BM25 index, rebuilt on demand after its texts change."""

    __slots__ = ("_building", "built", "generation")

    def __init__(self) -> None:
        self.generation = 0
        self.built: Built | None = None
        self._building: tuple[int, asyncio.Future[Built]] | None = None

    def changed(self) -> None:
        """A text was added, replaced or removed: the next search builds again."""
        self.generation += 1

    @property
    def nbytes(self) -> int:
        return self.built.nbytes if self.built is not None else 0

    async def current(self, order: Sequence[tuple[float, str]], records: Mapping[str, Memory]) -> Built:
        """The index of the user's texts as they are now (`order`: (created_at, id) ascending)."""
        built = self.built
        now = time.time()
        if built is not None and built.expires is not None and built.expires <= now:
            self.changed()  # a memory it holds has expired since
        generation = self.generation
        if built is not None and built.generation == generation:
            return built
        if self._building is not None and self._building[0] == generation:
            return await asyncio.shield(self._building[1])
        words = built.words if built is not None else {}
        if len(order) < BUILD_ON_LOOP_BELOW:
            result = build(generation, order, records, words, now)
        else:
            # Copies of the order and the mapping (C-speed), so writes landing meanwhile change neither.
            fut = asyncio.ensure_future(asyncio.to_thread(build, generation, list(order), dict(records), words, now))
            self._building = (generation, fut)
            try:
                result = await asyncio.shield(fut)
            finally:
                if self._building is not None and self._building[1] is fut:
                    self._building = None
        if self.built is None or result.generation >= self.built.generation:
            self.built = result
        return result
