"""A big user's lexical index on disk: BM25 over the texts its vector snapshot holds, position for position.

A partially resident user's texts are not in RAM. Ranking them through the store's FTS5 index scored every
row holding any query word (FTS5 has no top-k pruning) and joined each to its user: the cost grew with
the user, and a common word on a big user made every search wait for the store. Instead, the snapshot
build (`storage/large/snapshot.py`) also writes a BM25 matrix (`bm25s`, the same scoring and Snowball stems as a
resident user's `storage/lexical.py`) over the texts of the memories it indexes, in the snapshot's
position order, and a search maps it read-only: a query costs a few vector operations over the postings
of its words, in C.

What changed since the snapshot (new, replaced, deleted texts) is not here: those positions are the
snapshot's tombstones, scored as nothing, and the changed texts are ranked in RAM
(`PartialRecords.since`, through the user's `LexicalIndex`).

    <snapshot folder>/bm25/   bm25s's own files (`BM25.save`): the CSC matrix, vocabulary, parameters
                      terms.npy, term_ids.npy   the vocabulary again, its stems sorted (as UTF-8, up to
                                                `MAX_TERM_BYTES`) beside their ids: mapped, and looked
                                                up by binary search
                      long_terms.json           the few longer stems and their ids

A million-memory user can have a million distinct stems. bm25s's own vocabulary is a JSON object it
parses into a dict on load: RAM outside the tier's budget, and parsing before the user's first search
(docs/performance.md measures both). The sorted arrays cost neither: the pages a lookup touches are read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np
from bm25s.tokenization import Tokenized

from jean_memory.storage.bm25 import FastBM25
from jean_memory.storage.lexical import tokenize

FOLDER = "bm25"
#: One score in this many is sampled to find how high the best ones start (`_floor`).
SAMPLE_STRIDE = 32
#: Stems up to this many bytes are in the sorted arrays (a fixed-width array is as wide as its longest).
MAX_TERM_BYTES = 64


@dataclass(frozen=True)
class SnapshotLexical:
    """A snapshot's BM25 (its matrix mapped, no vocabulary dict) and its sorted vocabulary."""

    index: bm25s.BM25
    terms: np.ndarray
    term_ids: np.ndarray
    long_terms: dict[str, int]

    def ids_of(self, words: Sequence[str]) -> list[int]:
        """The token ids of those of `words` the vocabulary has, in order."""
        out: list[int] = []
        for word in words:
            key = word.encode()
            if len(key) > MAX_TERM_BYTES:
                if word in self.long_terms:
                    out.append(self.long_terms[word])
                continue
            at = int(np.searchsorted(self.terms, key))
            if at < len(self.terms) and self.terms[at] == key:
                out.append(int(self.term_ids[at]))
        return out


class LexicalBuilder:
    """Collects a snapshot's texts chunk by chunk as token ids (a stem's id is its first appearance), so
    the build never holds the strings of the whole user at once."""

    def __init__(self) -> None:
        self._vocab: dict[str, int] = {}
        self._docs: list[list[int]] = []

    def add(self, texts: Sequence[str]) -> None:
        vocab = self._vocab
        for stems in tokenize(texts):
            self._docs.append([vocab.setdefault(s, len(vocab)) for s in stems])

    def write(self, folder: Path) -> bool:
        """Index and save the texts added (in order: document i is the snapshot's position i); False, and
        nothing written, when no text had a word."""
        if not self._vocab:
            return False
        index = FastBM25()  # bm25s' index, built in numpy (storage/bm25.py)
        index.index(Tokenized(ids=self._docs, vocab=self._vocab), show_progress=False)
        out = folder / FOLDER
        index.save(str(out), show_progress=False)
        vocab: dict[str, int] = index.vocab_dict
        encoded = [(stem, stem.encode(), i) for stem, i in vocab.items()]
        short = sorted((key, i) for _, key, i in encoded if len(key) <= MAX_TERM_BYTES)
        width = max((len(key) for key, _ in short), default=1)
        np.save(out / "terms.npy", np.array([key for key, _ in short], dtype=f"S{width}"))
        np.save(out / "term_ids.npy", np.array([i for _, i in short], dtype=np.int64))
        (out / "long_terms.json").write_text(
            json.dumps({stem: i for stem, key, i in encoded if len(key) > MAX_TERM_BYTES})
        )
        return True


def load(folder: Path) -> SnapshotLexical | None:
    """The snapshot's BM25 and its sorted vocabulary, memory-mapped; None when it has none (no text had a
    word)."""
    path = folder / FOLDER
    if not path.is_dir():
        return None
    index = bm25s.BM25.load(str(path), mmap=True, load_vocab=False, show_progress=False, verbosity=0)
    terms = np.load(path / "terms.npy", mmap_mode="r")
    term_ids = np.load(path / "term_ids.npy", mmap_mode="r")
    return SnapshotLexical(index, terms, term_ids, json.loads((path / "long_terms.json").read_text()))


def top(
    lexical: SnapshotLexical, words: list[str], pool: int, void: np.ndarray, allowed: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the `pool` best texts for the stemmed query `words`, best first, and their BM25
    (positions in `void` score nothing; with `allowed`, only those positions may score)."""
    known = lexical.ids_of(words)
    if not known:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    scores = np.asarray(lexical.index.get_scores(known), dtype=np.float32)
    if len(void):
        scores[void] = 0.0
    if allowed is not None:
        kept = np.zeros_like(scores)
        kept[allowed] = scores[allowed]
        scores = kept
    matched = np.flatnonzero(scores >= _floor(scores, pool))
    if len(matched) > pool:
        matched = matched[np.argpartition(-scores[matched], pool - 1)[:pool]]
    best = matched[np.argsort(-scores[matched], kind="stable")]
    return best, scores[best]


def _floor(scores: np.ndarray, pool: int) -> float:
    """A score the `pool` best positive scores all reach, as high as cheaply known: on a big user a
    common word scores most texts, and sorting them all out cost more than the scoring. Every
    `SAMPLE_STRIDE`-th score is a sample; its `2 * pool / SAMPLE_STRIDE`-th best leaves about twice `pool`
    texts above it. Where fewer than `pool` reach that, the floor is any positive score (exact either way)."""
    tiny = float(np.finfo(np.float32).tiny)
    if len(scores) < SAMPLE_STRIDE * pool * 4:
        return tiny
    sample = scores[::SAMPLE_STRIDE]
    nth = max(1, 2 * pool // SAMPLE_STRIDE)
    floor = float(np.partition(sample, len(sample) - nth)[len(sample) - nth])
    if floor <= 0 or np.count_nonzero(scores >= floor) < pool:
        return tiny
    return floor
