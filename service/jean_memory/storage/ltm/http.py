"""HTTP long-term store: a remote memory service speaking this same API.

The product plan's topology: a fast local short-term tier in front of a central long-term store.
One pooled keep-alive client with timeouts. Writes carry their ids, so a replayed batch is an
idempotent repeat on the remote side. The remote keeps its own vectors, so promotion from it
re-embeds locally, and its ids cannot be enumerated (no Bloom filter).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import httpx

from jean_memory.errors import LtmError
from jean_memory.memory import Memory, WriteOp
from jean_memory.storage.ltm.base import LongTermStore, last_write_wins
from jean_memory.storage.ltm.history import HistoryEntry

_BATCH = 1000
_PAGE = 1000


def _memory(d: dict[str, Any]) -> Memory:
    return Memory(
        d["id"], d["user_id"], d["content"], d.get("metadata") or {}, d.get("salience", 0.5), d["created_at"],
        revision=d.get("version", 1), updated_at=d.get("updated_at"), expires_at=d.get("expires_at"),
        agent_id=d.get("agent_id"), run_id=d.get("run_id"),
    )  # fmt: skip


def _scope_fields(m: Memory) -> dict[str, str]:
    """The memory's scope as item fields, only those set (an unscoped memory's item is as before, so an
    older remote still takes it)."""
    return {k: v for k, v in (("agent_id", m.agent_id), ("run_id", m.run_id)) if v is not None}


class HttpStore(LongTermStore):
    kind = "http"
    enumerable = False
    keeps_vectors = False

    def __init__(self, url: str, *, api_key: str = "", timeout_s: float = 5.0, pool_size: int = 10) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0)),
            limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def _request(
        self, method: str, path: str, ok: tuple[int, ...] = (200, 201, 204), **kwargs: Any
    ) -> httpx.Response:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise LtmError(f"http: {type(exc).__name__}: {exc}") from exc
        if response.status_code in ok:
            return response
        retryable = response.status_code >= 500 or response.status_code in (408, 429)
        raise LtmError(f"http: {method} {path} -> {response.status_code} {response.text[:200]}", retryable=retryable)

    async def ping(self) -> None:
        await self._request("GET", "/readyz")

    async def apply(self, ops: Sequence[WriteOp]) -> None:
        """Each op as the remote's own API call: adds as batch adds, updates as PATCH (the remote keeps
        the history), deletes and expiries as DELETE, a forget as the remote's forget."""
        for run in last_write_wins(ops):
            kind = run[0].kind
            if kind == "vector":
                continue  # the remote service keeps its own vectors
            if kind in ("delete", "expire"):
                for op in run:
                    await self._request(
                        "DELETE", f"/v1/memories/{op.memory.id}", ok=(204, 404), params={"user_id": op.memory.user_id}
                    )
                continue
            if kind == "forget":
                for user_id in sorted({op.memory.user_id for op in run}):
                    await self._request("DELETE", "/v1/memories", params={"user_id": user_id})
                continue
            updates = [op.memory for op in run if op.memory.revision > 1]
            for m in updates:
                body = {
                    "content": m.content,
                    "metadata": m.metadata,
                    "salience": m.salience,
                    "expires_at": m.expires_at,
                }
                await self._request("PATCH", f"/v1/memories/{m.id}", ok=(200, 404), params={"user_id": m.user_id},
                                    json=body)  # fmt: skip
            by_user: dict[str, list[Memory]] = defaultdict(list)
            for op in run:
                if op.memory.revision <= 1:
                    by_user[op.memory.user_id].append(op.memory)
            for user_id, memories in by_user.items():
                for i in range(0, len(memories), _BATCH):
                    items = [
                        {
                            "id": m.id,
                            "content": m.content,
                            "metadata": m.metadata,
                            "salience": m.salience,
                            "created_at": m.created_at,
                            "expires_at": m.expires_at,
                            **_scope_fields(m),
                        }
                        for m in memories[i : i + _BATCH]
                    ]
                    await self._request("POST", "/v1/memories/batch", json={"user_id": user_id, "items": items})

    async def load_user(self, user_id: str) -> list[Memory]:
        out: list[Memory] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"user_id": user_id, "limit": _PAGE}
            if cursor:
                params["cursor"] = cursor
            page = (await self._request("GET", "/v1/memories", params=params)).json()
            out.extend(_memory(d) for d in page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return out

    async def get(self, user_id: str, memory_id: str) -> Memory | None:
        response = await self._request("GET", f"/v1/memories/{memory_id}", ok=(200, 404), params={"user_id": user_id})
        return _memory(response.json()) if response.status_code == 200 else None

    async def history(self, user_id: str, memory_id: str) -> list[HistoryEntry]:
        response = await self._request(
            "GET", f"/v1/memories/{memory_id}/history", ok=(200, 404), params={"user_id": user_id}
        )
        if response.status_code == 404:
            return []
        return [
            HistoryEntry(
                v["version"],
                v["event"],
                v["at"],
                v["content"],
                v["metadata"],
                v["salience"],
                v["expires_at"],
                v.get("agent_id"),
                v.get("run_id"),
            )
            for v in response.json()["versions"]
        ]

    async def count(self) -> int:
        raise LtmError("http: a remote store cannot be counted", retryable=False)
