"""Feature-hashing embedder: words and word bigrams hashed into signed buckets.

No model and no training: a batch costs microseconds, so tests and a lexical-only deployment get
real (if purely lexical) similarity search without loading torch.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Sequence

import numpy as np

from jean_memory.embedding.base import Embedder

_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class HashEmbedder(Embedder):
    """Stable across processes and machines (crc32, not Python's salted `hash`)."""

    inline = True

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.model_id = f"hash-{dim}"

    def _features(self, text: str) -> list[str]:
        words = tokens(text)
        return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                h = zlib.crc32(feature.encode())
                weight = 0.5 if " " in feature else 1.0
                out[row, h % self.dim] += weight if (h >> 31) & 1 else -weight
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        out /= norms
        return out
