"""Build the configured embedder."""

from __future__ import annotations

import functools

from jean_memory.config import EmbedderKind, Settings
from jean_memory.embedding.base import Embedder
from jean_memory.embedding.hashing import HashEmbedder


def make_embedder(settings: Settings) -> Embedder:
    if settings.embedder is EmbedderKind.HASH:
        return HashEmbedder(settings.embedding_dim)
    from jean_memory.embedding.minilm import MiniLMEmbedder

    build = functools.partial(
        MiniLMEmbedder, settings.embedding_model, batch_size=settings.embed_batch_size, threads=settings.torch_threads
    )
    if not settings.embed_in_process:
        return build()
    from jean_memory.embedding.process import ProcessEmbedder

    return ProcessEmbedder(build)
