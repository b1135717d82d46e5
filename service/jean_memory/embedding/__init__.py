"""Text to vectors: pluggable embedders and the background micro-batching worker."""

from jean_memory.embedding.base import Embedder
from jean_memory.embedding.factory import make_embedder

__all__ = ["Embedder", "make_embedder"]
