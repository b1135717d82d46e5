"""The embedder interface every backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors, so inner product is cosine similarity."""

    #: Stored beside each vector; a vector made by another model is re-embedded, never compared.
    model_id: str
    dim: int
    #: True when a batch costs microseconds: the worker then runs it on the event loop, not a thread.
    inline: bool = False

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dim), dtype float32, rows of unit length."""

    def warm_up(self) -> None:
        """Load weights and run once, so the first request does not pay for it."""
        self.embed(["warm up"])

    def close(self) -> None:  # noqa: B027 (an optional hook: most embedders hold nothing)
        """Release what the embedder holds (a child process, for instance)."""
