"""A user's lexical index: BM25 (`bm25s`) over Snowball-stemmed words (`PyStemmer`), beside the vectors.

On the LoCoMo conversations a plain BM25 finds the evidence more often than MiniLM alone, and the two
fused more often than either (docs/performance.md, recall section): the search use case ranks by both.

BM25's weights depend on the whole user (document frequencies, average length), so an index is built
whole: every change of a text marks it stale (`changed`, with the memory's id). A small user is built
again by the next search. A bigger one is not waited for: the search ranks the last build patched with
the changes since (`Patched`): removed and replaced texts score nothing from it, and the new texts are
scored with the build's own statistics (document frequencies, average length), so membership is exact at
once and only the weights lag; a worker thread builds the user again once the changes reach a share of
it or age. What a search ranks is the text the user holds at that moment: deleted and replaced texts
never linger. A memory's words are stemmed once and reused by later builds while its text is unchanged.

Each memory is indexed with the words of the memory written just before it (`CONTEXT`), when that one
was written strictly earlier and at most `CONTEXT_WINDOW_S` before (the same conversation; a batch's
items, written at one instant, lend nothing to each other): conversational memories are stored a turn at
a time, and the turn that names the subject is often the one before the turn that answers (on LoCoMo,
recall@10 of the fusion went from 0.64 to 0.72 with it). Expired memories are left out of a build, and
a build is stale from the moment the first memory it holds expires, so an expired text lends no words.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
import re
import threading
import time
from collections import ChainMap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

from jean_memory.memory import Memory
from jean_memory.storage.bm25 import FastBM25

#: Memories indexed on the event loop; a bigger user is built in a worker thread.
BUILD_ON_LOOP_BELOW = 48
#: A bigger user's changes since its last build that start a new one: this share of the build, within
#: these bounds (each search stems and scores the changes apart, in Python)...
REBUILD_SHARE = 0.05
REBUILD_MIN_CHANGES = 32
REBUILD_MAX_CHANGES = 256
#: ... or any change older than this (seconds), so the weights catch up with a slow trickle too.
REBUILD_AFTER_S = 10.0
#: How many earlier memories (in time order) lend their words to a memory's lexical document.
CONTEXT = 1
#: How much earlier a memory may have been written and still lend its words.
CONTEXT_WINDOW_S = 600.0

_local = threading.local()

#: Builds run one at a time, on this thread: a build is mostly Python (bm25s's vocabulary and matrix), so
#: it holds the GIL, and several at once (every user written by an import) would leave the event loop a
#: sliver of the interpreter; one at a time, the loop keeps its share and users are built in turn.
_BUILDER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lexical-build")

T = TypeVar("T")


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
    #: The average document length (words, context included) the weights were computed with.
    avgdl: float = 1.0
    #: RAM of the index, counted once when built (`measure`): a build never changes, and the memory
    #: accounting reads every resident user's size on the event loop (evictions, scrapes).
    nbytes: int = 0
    #: The part of `nbytes` that is the stemmed words: what is still held once the build is dropped.
    words_nbytes: int = 0

    def scores(self, query_words: list[str]) -> np.ndarray:
        if self.bm25 is None or not query_words:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(query_words), dtype=np.float32)

    def score_document(self, query_words: list[str], document: list[str]) -> float:
        """BM25 of a document this build does not hold, with the build's statistics: the same formula as
        `bm25s`' default (Lucene's: idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf / (tf + k1 (1 - b + b
        dl / avgdl))), the new document counted in N and in the frequency of its own words."""
        if not query_words or not document:
            return 0.0
        k1, b = (self.bm25.k1, self.bm25.b) if self.bm25 is not None else (1.5, 0.75)
        vocab = self.bm25.vocab_dict if self.bm25 is not None else {}
        indptr = self.bm25.scores["indptr"] if self.bm25 is not None else None
        n = len(self.ids) + 1
        counts: dict[str, int] = {}
        for word in document:
            counts[word] = counts.get(word, 0) + 1
        norm = k1 * ((1 - b) + b * len(document) / max(self.avgdl, 1e-9))
        total = 0.0
        for word in query_words:
            tf = counts.get(word)
            if not tf:
                continue
            column = vocab.get(word)
            df = 1 + (int(indptr[column + 1] - indptr[column]) if column is not None and indptr is not None else 0)
            total += math.log(1 + (n - df + 0.5) / (df + 0.5)) * tf / (norm + tf)
        return total


def build(
    generation: int, order: Sequence[tuple[float, str]], records: Mapping[str, Memory],
    words: dict[str, tuple[str, list[str]]], now: float, context: int = CONTEXT,
) -> Built:  # fmt: skip
    """BM25 over the user's live texts in time order (`order`, `records`: copies the caller took at
    `generation`), reusing the stems of texts the last build saw; each with `context` lenders' words."""
    live = [m for _, mid in order if (m := records.get(mid)) is not None and not m.expired(now)]
    expiries = [m.expires_at for m in live if m.expires_at is not None]
    docs = [(m.id, m.content) for m in live]
    fresh = {mid: w for mid, text in docs if (w := words.get(mid)) is not None and w[0] == text}
    todo = [(mid, text) for mid, text in docs if mid not in fresh]
    for (mid, text), stems in zip(todo, tokenize([t for _, t in todo]), strict=True):
        fresh[mid] = (text, stems)
    ids = [mid for mid, _ in docs]
    corpus = [
        [*fresh[m.id][1], *(w for before in lenders(m, _back(live, i), context) for w in fresh[before.id][1])]
        for i, m in enumerate(live)
    ]
    index: bm25s.BM25 | None = None
    if any(corpus):
        index = FastBM25()  # bm25s' index, built in numpy (storage/bm25.py)
        index.index(corpus, show_progress=False)
    avgdl = sum(map(len, corpus)) / len(corpus) if corpus else 1.0
    position = {mid: i for i, mid in enumerate(ids)}
    built = Built(
        generation, min(expiries, default=None), ids, position, index, fresh, avgdl, words_nbytes=words_nbytes(fresh)
    )
    built.nbytes = measure(built)
    return built


def words_nbytes(words: Mapping[str, tuple[str, list[str]]]) -> int:
    """RAM of cached stems, at a flat rate per word (the texts themselves are the records')."""
    return sum(8 + 24 * len(w) for _, w in words.values())


def measure(built: Built) -> int:
    """RAM of a build (the BM25 matrix and vocabulary, and its cached words: `words_nbytes`)."""
    size = 64 * len(built.ids) + built.words_nbytes
    if built.bm25 is not None:
        size += sum(int(a.nbytes) for a in built.bm25.scores.values() if isinstance(a, np.ndarray))
        size += 80 * len(built.bm25.vocab_dict)
    return size


def _back(items: Sequence[T], at: int) -> Iterator[T]:
    """`items` before position `at`, nearest first, lazily (no copy of the prefix)."""
    return (items[j] for j in range(at - 1, -1, -1))


def lenders(memory: Memory, earlier: Iterable[Memory], context: int = CONTEXT) -> list[Memory]:
    """The memories that lend `memory` their words: of the live ones before it (`earlier`, nearest first),
    the first `context`, each written strictly earlier and at most `CONTEXT_WINDOW_S` before it."""
    out: list[Memory] = []
    for before in itertools.islice(earlier, context):
        if not 0 < memory.created_at - before.created_at <= CONTEXT_WINDOW_S:
            break
        out.append(before)
    return out


def document(
    memory: Memory, order: Sequence[tuple[float, str]], records: Mapping[str, Memory], stems: StemCache, now: float,
    context: int = CONTEXT,
) -> list[str]:  # fmt: skip
    """One memory's lexical document as a build would make it: its words and its `lenders`' (the live
    memories before it in `order`, as a build sees them)."""
    at = bisect.bisect_left(order, (memory.created_at, memory.id))
    earlier = (m for _, mid in _back(order, at) if (m := records.get(mid)) is not None and not m.expired(now))
    return [*stems(memory), *(w for before in lenders(memory, earlier, context) for w in stems(before))]


class StemCache:
    """The stems of a text, from the build that saw it or stemmed once here (kept until the next build)."""

    __slots__ = ("_own", "built")

    def __init__(self, built: Built) -> None:
        self.built = built
        self._own: dict[str, tuple[str, list[str]]] = {}

    def __call__(self, memory: Memory) -> list[str]:
        for known in (self.built.words.get(memory.id), self._own.get(memory.id)):
            if known is not None and known[0] == memory.content:
                return known[1]
        stems = tokenize([memory.content])[0]
        self._own[memory.id] = (memory.content, stems)
        return stems


@dataclass(slots=True)
class Patched:
    """The last build and the changes since: what it holds of a removed or replaced memory scores
    nothing, and each changed memory still live is scored apart with the build's statistics."""

    base: Built
    ids: list[str]
    position: Mapping[str, int]
    void: np.ndarray
    documents: list[list[str]]

    def scores(self, query_words: list[str]) -> np.ndarray:
        base = self.base.scores(query_words)
        if len(self.void):
            base[self.void] = 0.0
        extra = np.asarray([self.base.score_document(query_words, d) for d in self.documents], dtype=np.float32)
        return np.concatenate([base, extra]) if len(extra) else base


def patched(
    stems: StemCache, changed: Sequence[str], order: Sequence[tuple[float, str]], records: Mapping[str, Memory],
    now: float, context: int = CONTEXT,
) -> Patched:  # fmt: skip
    """The build behind `stems` with the memories in `changed` (ids changed since it was built) taken out
    and the live ones among them scored apart."""
    base = stems.built
    void = [p for mid in changed if (p := base.position.get(mid)) is not None]
    live = [m for mid in changed if (m := records.get(mid)) is not None and not m.expired(now)]
    ids = base.ids + [m.id for m in live]
    extra = {m.id: len(base.ids) + i for i, m in enumerate(live)}
    documents = [document(m, order, records, stems, now, context) for m in live]
    return Patched(base, ids, ChainMap(extra, base.position), np.asarray(void, dtype=np.intp), documents)


class LexicalIndex:
    """One user's BM25 index: rebuilt on demand after its texts change, patched meanwhile (module doc)."""

    __slots__ = ("_building", "_changes", "_context", "_stems", "_words", "_words_bytes", "built", "generation")

    def __init__(self, context: int = CONTEXT) -> None:
        #: Lenders per memory: 0 where the index holds only some of the user's memories (a partially
        #: resident user's changes), whose neighbours in it are not the memories written before them.
        self._context = context
        self.generation = 0
        self.built: Built | None = None
        self._building: tuple[int, asyncio.Future[Built]] | None = None
        #: Each memory changed since the last build, with the generation of its last change (and when).
        self._changes: dict[str, tuple[int, float]] = {}
        self._stems: StemCache | None = None
        #: The stems of the last build, kept when it is dropped (`changed`), for the next build to reuse.
        self._words: dict[str, tuple[str, list[str]]] = {}
        self._words_bytes = 0

    def changed(self, memory_id: str | None = None) -> None:
        """A text was added, replaced or removed (`memory_id`; None: the whole user): the index is stale."""
        self.generation += 1
        if memory_id is None or self.built is None:
            return
        self._changes[memory_id] = (self.generation, time.monotonic())
        if len(self._changes) > max(4 * REBUILD_MIN_CHANGES, len(self.built.ids)):
            # Written, never searched: built whole next, from the stems it already has (a text unchanged
            # is not stemmed again; on a busy user, stemming everything anew held the GIL for long).
            self._words, self._words_bytes = self.built.words, self.built.words_nbytes
            self.built, self._changes, self._stems = None, {}, None

    @property
    def nbytes(self) -> int:
        return self.built.nbytes if self.built is not None else self._words_bytes

    async def current(self, order: Sequence[tuple[float, str]], records: Mapping[str, Memory]) -> Built | Patched:
        """The index of the user's texts as they are now (`order`: (created_at, id) ascending)."""
        built = self.built
        now = time.time()
        expired = built is not None and built.expires is not None and built.expires <= now
        if expired:
            self.changed()  # a memory it holds has expired since (a search leaves expired ones out)
        generation = self.generation
        if built is not None and built.generation == generation:
            return built
        if len(order) < BUILD_ON_LOOP_BELOW:
            words = built.words if built is not None else self._words
            result = build(generation, order, records, words, now, self._context)
            self._swap(result)
            return result
        # Every change logged is newer than the build: `_swap` forgets the ones a build holds.
        changes = list(self._changes)
        if built is None or len(changes) > len(order) // 2:
            return await self._rebuild(generation, order, records, now)  # nothing worth patching
        oldest = min((at for _, at in self._changes.values()), default=time.monotonic())
        due = min(REBUILD_MAX_CHANGES, max(REBUILD_MIN_CHANGES, REBUILD_SHARE * len(built.ids)))
        if expired or len(changes) >= due or time.monotonic() - oldest >= REBUILD_AFTER_S:
            self._start(generation, order, records, now)
        if self._stems is None or self._stems.built is not built:
            self._stems = StemCache(built)
        return patched(self._stems, changes, order, records, now, self._context)

    def _start(
        self, generation: int, order: Sequence[tuple[float, str]], records: Mapping[str, Memory], now: float
    ) -> asyncio.Future[Built]:
        """A build of the user as it is now, in a worker thread (the one already running when it is as new)."""
        if self._building is not None and (self._building[0] >= generation or not self._building[1].done()):
            return self._building[1]
        words = self.built.words if self.built is not None else self._words
        # Copies of the order and the mapping (C-speed), so writes landing meanwhile change neither.
        loop = asyncio.get_running_loop()
        fut = asyncio.ensure_future(
            loop.run_in_executor(_BUILDER, build, generation, list(order), dict(records), words, now, self._context)
        )
        fut.add_done_callback(self._landed)
        self._building = (generation, fut)
        return fut

    def _landed(self, fut: asyncio.Future[Built]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self._swap(fut.result())

    async def _rebuild(
        self, generation: int, order: Sequence[tuple[float, str]], records: Mapping[str, Memory], now: float
    ) -> Built:
        fut = self._start(generation, order, records, now)
        result = await asyncio.shield(fut)
        if result.generation < generation:  # a build of an older state was running: one more, waited for
            result = await asyncio.shield(self._start(generation, order, records, now))
        return result

    def _swap(self, result: Built) -> None:
        """Take a finished build (never an older one than held), and forget the changes it holds."""
        if self.built is not None and result.generation < self.built.generation:
            return
        self.built, self._words, self._words_bytes = result, {}, 0
        self._changes = {mid: c for mid, c in self._changes.items() if c[0] > result.generation}
