"""What both clients share at construction: where the service is, the key, the headers."""

from __future__ import annotations

import os

from jean_memory_client._version import VERSION

#: The service's port when started with `make run` (JM_PORT's default).
DEFAULT_URL = "http://127.0.0.1:8766"


def base_url(url: str | None) -> str:
    """The argument, else `JEAN_MEMORY_URL`, else the local default."""
    return url or os.environ.get("JEAN_MEMORY_URL") or DEFAULT_URL


def headers(api_key: str | None) -> dict[str, str]:
    """The bearer key (the argument, else `JEAN_MEMORY_API_KEY`; none when the service has no keys)."""
    key = api_key if api_key is not None else os.environ.get("JEAN_MEMORY_API_KEY")
    out = {"User-Agent": f"jean-memory-client/{VERSION}"}
    if key:
        out["Authorization"] = f"Bearer {key}"
    return out
