"""A big user's snapshot BM25 finds its texts by every stem, the long ones included: its vocabulary is a
sorted array of stems up to `MAX_TERM_BYTES` (mapped, looked up by binary search) and a small map of the
longer ones, instead of bm25s's dict parsed on load."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jean_memory.storage.large import lexical_snapshot
from jean_memory.storage.large.lexical_snapshot import MAX_TERM_BYTES, LexicalBuilder
from jean_memory.storage.lexical import tokenize


def test_every_stem_is_found_short_long_and_not_ascii(tmp_path: Path) -> None:
    long_word = "pneumono" + "x" * (MAX_TERM_BYTES + 10)
    texts = ["cellos and violins", f"a {long_word} appears here", "café au lait", "running every morning"]
    builder = LexicalBuilder()
    builder.add(texts[:2])  # in chunks, as a snapshot build
    builder.add(texts[2:])
    assert builder.write(tmp_path)
    lexical = lexical_snapshot.load(tmp_path)
    assert lexical is not None
    assert len(lexical.long_terms) == 1 and all(len(t) <= MAX_TERM_BYTES for t in lexical.terms.tolist())
    none = np.empty(0, dtype=np.int64)
    for query, expected in (("cello", 0), (long_word, 1), ("café", 2), ("run", 3)):
        positions, scores = lexical_snapshot.top(lexical, tokenize([query])[0], 5, none, None)
        assert positions.tolist() == [expected] and scores[0] > 0, query
    assert lexical_snapshot.top(lexical, tokenize(["absent words"])[0], 5, none, None)[0].tolist() == []


def test_a_vocabulary_of_long_stems_only(tmp_path: Path) -> None:
    """bm25s adds its empty stem, so the sorted array is never empty; every real stem here is long."""
    long_word = "y" * (MAX_TERM_BYTES + 1)
    builder = LexicalBuilder()
    builder.add([long_word])
    assert builder.write(tmp_path)
    lexical = lexical_snapshot.load(tmp_path)
    assert lexical is not None and list(lexical.long_terms) == [long_word]
    none = np.empty(0, dtype=np.int64)
    assert lexical_snapshot.top(lexical, tokenize([long_word])[0], 5, none, None)[0].tolist() == [0]
