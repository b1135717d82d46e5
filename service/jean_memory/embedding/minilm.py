"""The MiniLM model on torch (`JM_EMBEDDING_BACKEND=torch`; needs the `export` extra), 384 dimensions."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from jean_memory.embedding.base import Embedder
from jean_memory.embedding.models import resolve_model_path, sentence_transformers_id


class MiniLMEmbedder(Embedder):
    """Milliseconds a sentence on a CPU (docs/performance.md): run it off the event loop, in micro-batches."""

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
