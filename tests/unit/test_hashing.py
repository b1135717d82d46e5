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


def _by_definition(text: str, dim: int) -> np.ndarray:
    """A text's row as the embedder defines it, one feature at a time: what stored vectors were made with."""
    import itertools
    import zlib

    from jean_memory.embedding.hashing import tokens

    row = np.zeros(dim, dtype=np.float32)
    words = tokens(text)
    for feature in words + [f"{a} {b}" for a, b in itertools.pairwise(words)]:
        h = zlib.crc32(feature.encode())
        weight = 0.5 if " " in feature else 1.0
        row[h % dim] += weight if (h >> 31) & 1 else -weight
    norm = np.linalg.norm(row)
    return row / norm if norm else row


def test_batched_rows_equal_the_definition_exactly() -> None:
    """Texts are hashed together in one call; each row is still bit for bit what the text alone defines
    (vectors already stored stay comparable with new ones)."""
    import random

    rng = random.Random(3)
    vocabulary = ["tea", "Café", "naïve", "running", "the", "cello", "42", "x_y", "日本語", "tea"]
    texts = ["", "one", "   ", "green tea, green tea!"] + [
        " ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 400))) for _ in range(40)
    ]
    e = HashEmbedder(96)
    together = e.embed(texts)
    assert together.dtype == np.float32 and together.shape == (len(texts), 96)
    for text, row in zip(texts, together, strict=True):
        assert np.array_equal(row, _by_definition(text, 96))
        assert np.array_equal(row, e.embed([text])[0])
    assert e.embed([]).shape == (0, 96)
