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
#: A word counts in full, a bigram of two words half.
_WORD, _BIGRAM = 1.0, 0.5


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class HashEmbedder(Embedder):
    """Stable across processes and machines (crc32, not Python's salted `hash`).

    Each word adds one to its bucket (or takes one off, by the hash's top bit), each word bigram a half:
    every weight is a multiple of 0.5, so the sums are exact in any order and a text's row does not
    depend on the texts it is embedded with.
    """

    inline = True

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.model_id = f"hash-{dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One call's texts hashed together and summed by numpy: a Python loop per feature and bucket
        held the event loop (where this embedder runs) about twice as long."""
        features: list[str] = []
        runs: list[int] = []  # per text: how many words, then how many bigrams
        for text in texts:
            words = tokens(text)
            features += words
            features += [f"{a} {b}" for a, b in itertools.pairwise(words)]
            runs += (len(words), max(len(words) - 1, 0))
        n = len(texts)
        hashes = np.fromiter(map(zlib.crc32, map(str.encode, features)), dtype=np.uint32, count=len(features))
        counts = np.array(runs, dtype=np.intp)
        weights = np.repeat(np.tile([_WORD, _BIGRAM], n), counts)
        rows = np.repeat(np.repeat(np.arange(n, dtype=np.intp), 2), counts)
        signed = np.where(hashes >> 31, weights, -weights)
        buckets = rows * self.dim + (hashes % self.dim).astype(np.intp)
        out = np.bincount(buckets, weights=signed, minlength=n * self.dim).reshape(n, self.dim).astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        out /= norms
        return out
