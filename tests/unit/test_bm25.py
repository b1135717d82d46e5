"""`FastBM25` (`storage/bm25.py`) builds `bm25s`' own index: the same matrix entries bit for bit, the same
sparse arrays, the same scores, on random corpora with empty documents and repeated words."""

from __future__ import annotations

import random

import bm25s
import numpy as np
import pytest

from jean_memory.storage.bm25 import FastBM25

WORDS = [f"w{i}" for i in range(300)]


def corpus(rng: random.Random, docs: int) -> list[list[str]]:
    """Zipf-ish words (a few very common), lengths 0 to 40, repeats within a document."""
    weights = [1 / (i + 1) for i in range(len(WORDS))]
    return [rng.choices(WORDS, weights, k=rng.choice([0, 1, 2, 5, 8, 13, 40])) for _ in range(docs)]


@pytest.mark.parametrize("seed", range(6))
def test_the_same_arrays_as_bm25s(seed: int) -> None:
    rng = random.Random(seed)
    docs = corpus(rng, rng.choice([1, 3, 50, 700]))
    if not any(docs):
        docs[0] = ["w0"]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(w for d in docs for w in d))}
    ids = [[vocab[w] for w in d] for d in docs]
    theirs = bm25s.BM25().build_index_from_ids(list(vocab.values()), ids, show_progress=False)
    ours = FastBM25().build_index_from_ids(list(vocab.values()), ids)
    assert ours["num_docs"] == theirs["num_docs"]
    assert ours["data"].dtype == theirs["data"].dtype
    assert np.array_equal(ours["data"].view(np.uint32), theirs["data"].view(np.uint32))  # bit for bit
    for key in ("indices", "indptr"):
        assert ours[key].dtype == theirs[key].dtype, key
        assert np.array_equal(ours[key], theirs[key]), key


@pytest.mark.parametrize("seed", range(4))
def test_the_same_scores_as_bm25s(seed: int) -> None:
    rng = random.Random(100 + seed)
    docs = corpus(rng, 400)
    theirs, ours = bm25s.BM25(), FastBM25()
    theirs.index(docs, show_progress=False)
    ours.index(docs, show_progress=False)
    assert set(ours.vocab_dict) == set(theirs.vocab_dict)
    for _ in range(50):
        query = rng.sample(WORDS, rng.choice([1, 2, 4]))
        if not any(w in theirs.vocab_dict for w in query):
            continue
        assert np.array_equal(ours.get_scores(query), theirs.get_scores(query)), query


def test_only_lucene_is_offered() -> None:
    with pytest.raises(ValueError, match="Lucene"):
        FastBM25(method="bm25+")
