"""`bm25s`' BM25 index, its matrix computed for all documents at once instead of one at a time.

Why: `bm25s` builds its score matrix a document at a time in Python (a `Counter`, two small arrays and a
few array operations per document), which is most of a user's lexical build: a thousand short texts took
a cold search longer than everything else it did, and a big user's snapshot paid it per memory. Its
documentation names the way out: `build_index_from_ids` is there to be overridden. `FastBM25` overrides it
(and the vocabulary's construction, in first-seen order instead of a set's) with the same computation over
every (document, word) pair at once, in numpy:

- the same Lucene weights in the same floating-point steps and types (term frequencies as float32, the
  length normalisation in float64, each idf from `math.log` stored as float32, the product rounded to
  float32), so each matrix entry is bit for bit the one `bm25s` computes;
- the same sparse layout, built by `bm25s`' own CSC builder from the same entries (each (document, word)
  pair once, which that builder sorts), so the arrays are equal too.

Only the Lucene variant (`bm25s`' default, the one the service uses) is offered. `tests/unit/test_bm25.py`
compares the arrays with `bm25s`' own build on random corpora, empty documents and repeated words included.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from typing import Any

import bm25s
import numpy as np


class FastBM25(bm25s.BM25):  # type: ignore[misc]
    """`bm25s.BM25` (Lucene scoring only), its index built in a few array operations."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.method != "lucene" or self.idf_method != "lucene":
            raise ValueError("FastBM25 builds Lucene-scored indexes only (bm25s' default)")

    def build_index_from_tokens(
        self, corpus_tokens: Iterable[list[str]], show_progress: bool = False, leave_progress: bool = False
    ) -> tuple[dict[str, Any], dict[str, int]]:
        """The vocabulary in first-seen order (deterministic, unlike a set's), then `build_index_from_ids`."""
        docs = list(corpus_tokens)
        vocab = {token: i for i, token in enumerate(dict.fromkeys(itertools.chain.from_iterable(docs)))}
        ids = [[vocab[token] for token in doc] for doc in docs]
        return self.build_index_from_ids(list(vocab.values()), ids), vocab

    def build_index_from_ids(
        self,
        unique_token_ids: list[int],
        corpus_token_ids: list[list[int]],
        show_progress: bool = False,
        leave_progress: bool = False,
    ) -> dict[str, Any]:
        n_docs, n_vocab = len(corpus_token_ids), len(unique_token_ids)
        lengths = np.fromiter(map(len, corpus_token_ids), dtype=np.int64, count=n_docs)
        avg_doc_len = lengths.mean()  # as bm25s: np.float64 (nan for no documents)
        tokens = np.fromiter(itertools.chain.from_iterable(corpus_token_ids), dtype=np.int64, count=int(lengths.sum()))
        docs = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        pairs, counts = np.unique(docs * max(n_vocab, 1) + tokens, return_counts=True)
        doc_idx, voc_idx = np.divmod(pairs, max(n_vocab, 1))
        doc_freqs = np.bincount(voc_idx, minlength=n_vocab)
        idf = np.zeros(n_vocab, dtype=self.dtype)
        for df in np.unique(doc_freqs[doc_freqs > 0]).tolist():  # math.log, as bm25s computes each idf
            idf[doc_freqs == df] = math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
        self.nonoccurrence_array = None  # a Lucene index has none
        # bm25s: tf (float32) / (k1 * ((1 - b) + b * doc_len / avg_doc_len) + tf), times idf (float32)
        tf = counts.astype(self.dtype)
        norm = self.k1 * ((1 - self.b) + self.b * lengths[doc_idx] / avg_doc_len)
        scores = (idf[voc_idx] * (tf / (norm + tf))).astype(self.dtype)
        int_dtype = np.dtype(self.int_dtype)
        data, indices, indptr = self._np_csc(
            data=scores, rows=doc_idx.astype(int_dtype), cols=voc_idx.astype(int_dtype), shape=(n_docs, n_vocab)
        )
        return {"data": data.astype(self.dtype), "indices": indices, "indptr": indptr, "num_docs": n_docs}
