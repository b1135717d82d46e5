"""Fault injection for fire drills: off by default, and impossible to switch on by accident.

It needs `JM_FAULTS_ENABLED=true` *and* a `JM_ADMIN_TOKEN` of at least 16 characters (start-up fails
otherwise); without both, the `/admin/faults` routes do not exist. Faults:

- `latency_ms`: extra latency per operation (`add`, `search`, `get`, `list`, `delete`);
- `error_ratio`: share of requests per operation answered with an injected 500;
- `ltm_unreachable`: every long-term store call fails (the shuttle retries, cold reads get 503);
- `cache_disabled`: the L1 and L2 caches miss on every lookup;
- `collector_unreachable`: every OTLP export fails (as if the collector were gone);
- `embedding`: `failing` (every embedding batch fails: writes stay unembedded, as when a model or
  its process is broken) or `noise` (the model answers random unit vectors: retrieval quality
  collapses while everything else looks healthy);
- `embed_delay_ms`: every embedding call (a batch of memories, or a query) takes this much longer, off the
  event loop, as an overloaded or throttled model does: writes wait longer for their vectors and searches
  for their query's (the canary's time to searchable rises);
- `noisy_vectors`: every query vector a search uses is mixed with a random unit vector, this share of it
  noise (0 to 1), as a drifting or mismatched model would answer: ranking degrades while scores, latency
  and errors look healthy (what the golden set's recall SLI exists to catch); stored vectors are untouched;
- `lexical_off`: the lexical leg switched off: every search ranks by its vectors alone (as a lost or empty
  lexical index would leave it); with `noisy_vectors`, ranking has nothing sound left to stand on;
- `loop_block_ms`: once a second the event loop is held this long, as a callback that computes would
  hold it (every request on the replica waits).
- `commit_pause_ms`: in cluster mode, a pause between PostgreSQL's answer to a group commit and the
  replica acting on it, as a stalled event loop or a preempted process makes, so that catch-ups
  for other replicas' later commits overtake the commit's own result (the coherence tests' race); in
  embedded mode, the journal's writer thread answers each commit this much later, as a slow disk's
  fsync would (every acknowledged write waits for it: the creation-latency alerts' fault).

Faults wrap components at their edges (the write and read use cases, the long-term store), so no
use case carries a fault hook; the composition root puts the wrappers in place only when enabled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from jean_memory.background import BackgroundTask
from jean_memory.core.fusion import DEFAULT, SearchOptions
from jean_memory.core.reads import QueryEmbedding, ReadOps, SearchResult
from jean_memory.core.writes import NewMemory, Patch, Stored, WriteOps
from jean_memory.embedding.base import Embedder
from jean_memory.errors import LtmError, ServiceError
from jean_memory.filters import Filter
from jean_memory.memory import ALL, Memory, Scope, WriteOp
from jean_memory.storage.ltm.base import LongTermStore

OPERATIONS = ("add", "search", "get", "list", "delete", "update", "forget", "export", "history")


class InjectedFault(ServiceError):
    """An error injected by a fire drill."""

    status = 500
    code = "injected_fault"


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latency_ms: dict[str, float] = Field(default_factory=dict, description="Extra latency per operation.")
    error_ratio: dict[str, float] = Field(default_factory=dict, description="Share of requests failed per operation.")
    ltm_unreachable: bool = False
    cache_disabled: bool = False
    collector_unreachable: bool = False
    embedding: Literal["failing", "noise"] | None = None
    noisy_vectors: float = Field(0.0, ge=0, le=1, description="Share of noise mixed into every query vector.")
    lexical_off: bool = Field(False, description="Rank every search by its vectors alone (no lexical leg).")
    loop_block_ms: float = Field(0.0, ge=0, le=5000, description="Hold the event loop this long once a second.")
    embed_delay_ms: float = Field(0.0, ge=0, le=60_000, description="Extra time every embedding call takes.")
    commit_pause_ms: float = Field(
        0.0, ge=0, le=60_000, description="Pause after each commit: the journal's (embedded), PostgreSQL's (cluster)."
    )


class LoopBlocker:
    """The `loop_block_ms` fault: a task that, once a second, holds the event loop with a plain sleep."""

    def __init__(self) -> None:
        self._task = BackgroundTask("fault-loop-block")

    def set(self, block_ms: float) -> None:
        self._task.cancel()
        if block_ms > 0:
            self._task.start(self._run(block_ms / 1000))

    @staticmethod
    async def _run(block_s: float) -> None:
        while True:
            await asyncio.sleep(1.0)
            time.sleep(block_s)  # noqa: ASYNC251  # blocking the loop is this fault


class Faults:
    """The active faults; consulted on the request path only when something is set."""

    def __init__(self) -> None:
        self.spec = FaultSpec()
        self.active = False
        self._blocker = LoopBlocker()

    def set(self, spec: FaultSpec) -> None:
        for name in (*spec.latency_ms, *spec.error_ratio):
            if name not in OPERATIONS:
                raise ValueError(f"unknown operation {name!r} (one of {', '.join(OPERATIONS)})")
        if any(not 0 <= r <= 1 for r in spec.error_ratio.values()):
            raise ValueError("error_ratio values must be between 0 and 1")
        if any(not 0 <= ms <= 60_000 for ms in spec.latency_ms.values()):
            raise ValueError("latency_ms values must be between 0 and 60000")
        if spec.loop_block_ms != self.spec.loop_block_ms:
            self._blocker.set(spec.loop_block_ms)
        self.spec = spec
        self.active = spec != FaultSpec()

    def clear(self) -> None:
        self.set(FaultSpec())

    async def before(self, operation: str) -> None:
        """Apply this operation's injected latency and error, if any."""
        if not self.active:
            return
        delay = self.spec.latency_ms.get(operation, 0.0)
        if delay:
            await asyncio.sleep(delay / 1000)
        ratio = self.spec.error_ratio.get(operation, 0.0)
        if ratio and random.random() < ratio:
            raise InjectedFault(f"injected fault on {operation} (fire drill)")


class FaultyWrites:
    """Wraps the write use cases: each operation first suffers its injected latency and errors."""

    def __init__(self, inner: WriteOps, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults

    async def add(
        self, user_id: str, items: Sequence[NewMemory], mode: str = "single", dedupe: bool = False
    ) -> list[Stored]:
        await self._faults.before("add")
        return await self._inner.add(user_id, items, mode, dedupe)

    async def update(self, user_id: str, memory_id: str, patch: Patch) -> Memory:
        await self._faults.before("update")
        return await self._inner.update(user_id, memory_id, patch)

    async def delete(self, user_id: str, memory_id: str) -> None:
        await self._faults.before("delete")
        await self._inner.delete(user_id, memory_id)

    async def forget(self, user_id: str, scope: Scope = ALL) -> int:
        await self._faults.before("forget")
        return await self._inner.forget(user_id, scope)

    async def delete_matching(self, user_id: str, filters: Filter | None, scope: Scope = ALL) -> int:
        await self._faults.before("delete")
        return await self._inner.delete_matching(user_id, filters, scope)


class FaultyReads:
    """Wraps the read use cases: each operation first suffers its injected latency and errors."""

    def __init__(self, inner: ReadOps, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults

    async def get(self, user_id: str, memory_id: str) -> Memory:
        await self._faults.before("get")
        return await self._inner.get(user_id, memory_id)

    async def list_page(
        self, user_id: str, limit: int, before: tuple[float, str] | None, filters: Filter | None = None,
        scope: Scope = ALL,
    ) -> list[Memory]:  # fmt: skip
        await self._faults.before("list")
        return await self._inner.list_page(user_id, limit, before, filters, scope)

    async def search(
        self, user_id: str, query: str, k: int, filters: Filter | None, options: SearchOptions = DEFAULT,
        scope: Scope = ALL,
    ) -> SearchResult:  # fmt: skip
        await self._faults.before("search")
        if self._faults.spec.lexical_off and options.mode != "vector":
            options = dataclasses.replace(options, mode="vector")
        return await self._inner.search(user_id, query, k, filters, options, scope)

    async def export(self, user_id: str, filters: Filter | None = None, scope: Scope = ALL) -> AsyncIterator[Memory]:
        await self._faults.before("export")
        async for memory in self._inner.export(user_id, filters, scope):
            yield memory


class InjectedEmbeddingFailure(RuntimeError):
    """An embedding batch failed on purpose (fire drill)."""


class FaultyEmbedder(Embedder):
    """Wraps the embedder: fails every batch, or answers noise, while the `embedding` fault is set; with
    `embed_delay_ms`, every call first waits, and an inline embedder is then called off the event loop like
    a model (the worker reads `inline` at each batch), so the delay holds embeddings, not every request."""

    def __init__(self, inner: Embedder, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults
        self.model_id = inner.model_id
        self.dim = inner.dim
        self._rng = np.random.default_rng()

    @property
    def inline(self) -> bool:  # type: ignore[override]  # the base's class attribute, here read at each batch
        return self._inner.inline and not self._faults.spec.embed_delay_ms

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if delay_ms := self._faults.spec.embed_delay_ms:
            time.sleep(delay_ms / 1000)  # a worker thread's call (see `inline`), never the event loop's
        mode = self._faults.spec.embedding
        if mode == "failing":
            raise InjectedEmbeddingFailure("injected fault: embedding failed (fire drill)")
        if mode == "noise":
            noise = self._rng.standard_normal((len(texts), self.dim)).astype(np.float32)
            return noise / np.linalg.norm(noise, axis=1, keepdims=True)
        return self._inner.embed(texts)

    def warm_up(self) -> None:
        self._inner.warm_up()

    def close(self) -> None:
        self._inner.close()


class NoisyQueries:
    """Wraps the embedding worker the search use case sees: while `noisy_vectors` is set, each query vector
    is mixed with a random unit vector (`(1 - share) * v + share * noise`, normalised). Writes, deduplication
    and the stored vectors use the worker itself, so clearing the fault (and the caches, which the container
    empties whenever a vector fault changes) brings ranking back at once."""

    def __init__(self, inner: QueryEmbedding, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults
        self._rng = np.random.default_rng()

    @property
    def embedder(self) -> Embedder:
        return self._inner.embedder

    def prioritise(self, keys: Sequence[int]) -> None:
        self._inner.prioritise(keys)

    async def embed_now(self, texts: Sequence[str]) -> np.ndarray:
        vectors = await self._inner.embed_now(texts)
        share = self._faults.spec.noisy_vectors
        if not share:
            return vectors
        noise = self._rng.standard_normal(vectors.shape).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        mixed = (1 - share) * vectors + share * noise
        return (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)


class FaultyStore(LongTermStore):
    """Wraps the real store; fails every call while `ltm_unreachable` is set."""

    def __init__(self, inner: LongTermStore, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults
        self.kind = inner.kind
        self.enumerable = inner.enumerable
        self.keeps_vectors = inner.keeps_vectors
        self.sqlite_path = inner.sqlite_path

    def _check(self) -> None:
        if self._faults.spec.ltm_unreachable:
            raise LtmError("injected fault: long-term store unreachable (fire drill)")

    async def start(self) -> None:
        await self._inner.start()

    async def close(self) -> None:
        await self._inner.close()

    async def ping(self) -> None:
        self._check()
        await self._inner.ping()

    async def apply(self, ops: Sequence[WriteOp]) -> None:
        self._check()
        await self._inner.apply(ops)

    async def load_user(self, user_id: str) -> list[Memory]:
        self._check()
        return await self._inner.load_user(user_id)

    async def get(self, user_id: str, memory_id: str) -> Memory | None:
        self._check()
        return await self._inner.get(user_id, memory_id)

    async def iter_keys(self) -> AsyncIterator[list[str]]:
        async for chunk in self._inner.iter_keys():
            yield chunk

    async def recent_users(self, limit: int) -> list[str]:
        return await self._inner.recent_users(limit)

    async def count(self) -> int:
        return await self._inner.count()


def describe(faults: Faults) -> dict[str, Any]:
    return faults.spec.model_dump()
