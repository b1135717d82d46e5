"""What `serve` says when it starts: one line a person can read, naming what is in force, and a word
before the first start's model export (seconds of silence otherwise, then a model appears).

    jean-memory 3.0.0 starting: embedded mode, embedder minilm (onnx), store sqlite:///.../ltm.db,
    data folder /var/lib/jm, auth on (2 tenants), listening on 127.0.0.1:8766
"""

from __future__ import annotations

from jean_memory import __version__
from jean_memory.config import EmbedderKind, EmbeddingBackend, Settings
from jean_memory.embedding.bundle import bundle_ready


def summary(settings: Settings) -> str:
    """The start's one summary line: version, mode, embedder, store (no password), data folder, auth, port."""
    embedder = settings.embedder.value
    if settings.embedder is EmbedderKind.MINILM:
        embedder += f" ({settings.embedding_backend.value})"
    tenants = len(set(settings.tenant_keys.values()))
    auth = f"on ({tenants} tenant{'s' if tenants != 1 else ''})" if settings.auth_enabled else "off"
    return (
        f"jean-memory {__version__} starting: {'cluster' if settings.cluster else 'embedded'} mode, "
        f"embedder {embedder}, store {settings.ltm_url_shown}, data folder {settings.data_dir.resolve()}, "
        f"auth {auth}, listening on {settings.host}:{settings.port}"
    )


def export_notice(settings: Settings) -> str | None:
    """A line for a first start that must export the model to ONNX (torch, once), or None."""
    if settings.embedder is not EmbedderKind.MINILM or settings.embedding_backend is EmbeddingBackend.TORCH:
        return None
    int8 = settings.embedding_backend is EmbeddingBackend.ONNX_INT8
    if bundle_ready(settings.embedding_model, settings.model_cache, int8):
        return None
    return (
        f"first start: exporting the model {settings.embedding_model} to ONNX in {settings.model_cache} "
        "(once, with torch; readiness waits for it)"
    )
