"""Feature-hashing embedder: words and word bigrams hashed into signed buckets.

No model and no training: a batch costs microseconds, so tests and a lexical-only deployment get
real (if purely lexical) similarity search without loading torch.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections import Counter
from collections.abc import Sequence

import numpy as np

from jean_memory.embedding.base import Embedder

_TOKEN = re.compile(r"\w+", re.UNICODE)
#: From this many words a text's features are summed by numpy (`HashEmbedder._long`).
_LONG_TEXT_WORDS = 256


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class HashEmbedder(Embedder):
    """Stable across processes and machines (crc32, not Python's salted `hash`)."""

    inline = True

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.model_id = f"hash-{dim}"

    def _long(self, words: list[str]) -> np.ndarray:
        """The same row for a long text, each distinct feature hashed once and weighted by its count, summed
        by numpy: the per-feature Python loop would hold the event loop several times longer. Every weight
        is a multiple of 0.5, so both sums are exact and equal."""
        row = np.zeros(self.dim, dtype=np.float64)
        bigrams = Counter(itertools.pairwise(words))
        for features, weight in (
            (Counter(words), 1.0),
            (Counter({f"{a} {b}": n for (a, b), n in bigrams.items()}), 0.5),
        ):
            hashes = np.fromiter(map(zlib.crc32, (f.encode() for f in features)), dtype=np.uint32, count=len(features))
            counts = np.fromiter(features.values(), dtype=np.float64, count=len(features))
            signs = np.where(hashes >> 31, weight, -weight) * counts
            row += np.bincount((hashes % self.dim).astype(np.intp), weights=signs, minlength=self.dim)
        return row.astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = tokens(text)
            if len(words) >= _LONG_TEXT_WORDS:
                out[row] = self._long(words)
                continue
            for feature in words + [f"{a} {b}" for a, b in itertools.pairwise(words)]:
                h = zlib.crc32(feature.encode())
                weight = 0.5 if " " in feature else 1.0
                out[row, h % self.dim] += weight if (h >> 31) & 1 else -weight
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        out /= norms
        return out
