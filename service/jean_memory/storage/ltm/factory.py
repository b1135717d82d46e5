"""Open the long-term store a URL names."""

from __future__ import annotations

from urllib.parse import urlparse

from jean_memory.config import Settings
from jean_memory.storage.ltm.base import LongTermStore


def open_store(settings: Settings) -> LongTermStore:
    url = settings.effective_ltm_url
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        from jean_memory.storage.ltm.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite://"))
    if scheme in ("postgres", "postgresql"):
        from jean_memory.storage.ltm.postgres import PostgresStore

        return PostgresStore(url, pool_size=settings.ltm_pool_size, timeout_s=settings.ltm_timeout_s)
    if scheme in ("http", "https"):
        from jean_memory.storage.ltm.http import HttpStore

        return HttpStore(
            url,
            api_key=settings.ltm_api_key.get_secret_value(),
            timeout_s=settings.ltm_timeout_s,
            pool_size=settings.ltm_pool_size,
        )
    raise ValueError(f"JM_LTM_URL: unsupported scheme {scheme!r} (use sqlite, postgresql or http)")
