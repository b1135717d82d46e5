"""The hash embedder: stable, normalised, lexical."""

from __future__ import annotations

import numpy as np

from jean_memory.embedding.hashing import HashEmbedder


def test_unit_length_and_stable_across_instances() -> None:
    a = HashEmbedder(64).embed(["green tea in the morning", ""])
    b = HashEmbedder(64).embed(["green tea in the morning", ""])
    assert a.dtype == np.float32 and a.shape == (2, 64)
    assert np.allclose(a, b)
    assert np.isclose(np.linalg.norm(a[0]), 1.0)
    assert np.linalg.norm(a[1]) == 0.0


def test_shared_words_score_higher() -> None:
    e = HashEmbedder(384)
    v = e.embed(["green tea", "I drink green tea daily", "the stock market fell"])
    assert v[1] @ v[0] > v[2] @ v[0]
