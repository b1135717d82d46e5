"""Build the configured embedder."""

from __future__ import annotations

import functools
from collections.abc import Callable

from jean_memory.config import EmbedderKind, EmbeddingBackend, Settings
from jean_memory.embedding.base import Embedder
from jean_memory.embedding.hashing import HashEmbedder


def make_embedder(settings: Settings) -> Embedder:
    if settings.embedder is EmbedderKind.HASH:
        return HashEmbedder(settings.embedding_dim)
    build: Callable[[], Embedder]
    if settings.embedding_backend is EmbeddingBackend.TORCH:
        from jean_memory.embedding.minilm import MiniLMEmbedder

        build = functools.partial(
            MiniLMEmbedder,
            settings.embedding_model,
            batch_size=settings.embed_batch_size,
            threads=settings.torch_threads,
        )
    else:
        from jean_memory.embedding.onnx import OnnxEmbedder

        build = functools.partial(
            OnnxEmbedder,
            settings.embedding_model,
            settings.model_cache,
            int8=settings.embedding_backend is EmbeddingBackend.ONNX_INT8,
            threads=settings.torch_threads,
            batch_size=settings.embed_batch_size,
        )
    if not settings.embed_subprocess:
        return build()
    from jean_memory.embedding.process import ProcessEmbedder

    return ProcessEmbedder(build)
