"""The read caches: L1 search results, L2 query embeddings, and the Bloom filter of known ids.

- L1 (cachetools LRU) keeps recent search results per (user, user version, query, k, filters). Every
  write to a user bumps its version, so a cached result can never hide a write: stale keys just
  stop matching and age out.
- L2 (cachetools LRU) keeps query embeddings per (tenant, model, query): a repeated query skips the
  model even when the user's memories changed. Per tenant, because a hit is faster than a miss: a
  shared cache would let one tenant time whether another had searched a string.
Both are bounded by entries and by bytes (an entry's estimated size), and keyed by a digest of the
query, never the text: what a client may send is bounded by the request limits, what the caches hold
by their own, whatever the queries.
- The Bloom filter (rbloom) holds every id that may exist. "Not in the filter" is certain, so a
  lookup of an unknown id answers 404 without touching a tier; it is the negative cache.
Every lookup counts a hit or a miss for its level, and the searches window feeds `jm_cache_hit_ratio`.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

from cachetools import LRUCache
from rbloom import Bloom

from jean_memory.telemetry.metrics import CacheMetrics

#: What a key costs besides its value: the tuple, a 16-byte digest, the dict's slot (an estimate).
KEY_BYTES = 200


def digest(text: str | bytes) -> bytes:
    """A query's key in the caches: 16 bytes whatever its length (BLAKE2b, keyed by nothing secret:
    the point is size, and a tenant never sees another tenant's keys)."""
    return hashlib.blake2b(text.encode() if isinstance(text, str) else text, digest_size=16).digest()


class LevelCache:
    """An LRU cache that counts its hits and misses under one level label, and holds at most `size`
    entries and `max_bytes` bytes as `sizeof` estimates each value (plus `KEY_BYTES`).

    One cachetools bound does both: an entry costs the larger of its bytes and `max_bytes / size`, so
    small entries fill the count first and large ones the bytes."""

    def __init__(
        self,
        level: str,
        size: int,
        metrics: CacheMetrics,
        max_bytes: int = 0,
        sizeof: Callable[[Any], int] | None = None,
    ) -> None:
        self._by_bytes = max_bytes > 0
        self._floor = max(1, max_bytes // size) if size > 0 and self._by_bytes else 1
        self._sizeof = sizeof or (lambda _: 0)
        self._cache: LRUCache[Hashable, Any] | None = None
        if size > 0 and self._by_bytes:
            self._cache = LRUCache(maxsize=max_bytes, getsizeof=self._cost)
        elif size > 0:
            self._cache = LRUCache(maxsize=size)
        self._bytes = metrics.bytes.labels(level)
        self._hits = metrics.hits.labels(level)
        self._misses = metrics.misses.labels(level)
        self.enabled = self._cache is not None
        #: Set by the fire drill's `cache_disabled` fault: every lookup misses.
        self.suspended = False

    def get(self, key: Hashable) -> Any | None:
        if self._cache is None:
            return None
        if self.suspended:
            self._misses.inc()
            return None
        value = self._cache.get(key)
        (self._misses if value is None else self._hits).inc()
        return value

    def _cost(self, value: Any) -> int:
        return max(self._floor, KEY_BYTES + self._sizeof(value))

    def put(self, key: Hashable, value: Any) -> None:
        if self._cache is None:
            return
        try:
            self._cache[key] = value
        except ValueError:  # one value larger than the whole cache: not kept
            return
        self._bytes.set(self.bytes)

    def clear(self) -> None:
        if self._cache is not None:
            self._cache.clear()
            self._bytes.set(0)

    @property
    def bytes(self) -> int:
        """The estimated bytes held (0 when bounded by entries only)."""
        return int(self._cache.currsize) if self._cache is not None and self._by_bytes else 0

    def __len__(self) -> int:
        return len(self._cache) if self._cache is not None else 0


class IdFilter:
    """Bloom filter of ids that may exist. Until `ready`, or when disabled, everything may exist."""

    def __init__(self, capacity: int, metrics: CacheMetrics, *, enabled: bool = True) -> None:
        self._bloom = Bloom(capacity, 0.01)
        self.enabled = enabled
        self.ready = False
        self._lock = threading.Lock()
        self._hits = metrics.hits.labels("bloom")
        self._misses = metrics.misses.labels("bloom")

    def add(self, memory_id: str) -> None:
        self._bloom.add(memory_id)

    def update(self, memory_ids: list[str]) -> None:
        self._bloom.update(memory_ids)

    def may_exist(self, memory_id: str) -> bool:
        """False only when the id certainly does not exist (a negative-cache hit)."""
        if not (self.enabled and self.ready):
            return True
        if memory_id in self._bloom:
            self._misses.inc()
            return True
        self._hits.inc()
        return False


class SearchCacheWindow:
    """Whether each recent search avoided the model, over the last `size` searches: jm_cache_hit_ratio."""

    def __init__(self, metrics: CacheMetrics, size: int = 1000) -> None:
        self._window: deque[bool] = deque(maxlen=size)
        self._hits = 0
        self._gauge = metrics.hit_ratio

    def record(self, hit: bool) -> None:
        if len(self._window) == self._window.maxlen and self._window[0]:
            self._hits -= 1
        self._window.append(hit)
        self._hits += hit
        self._gauge.set(self.rate)

    @property
    def rate(self) -> float:
        return self._hits / len(self._window) if self._window else 1.0

    @property
    def rate_or_none(self) -> float | None:
        """The hit rate, or None before the first search (no data is not a 100 % hit rate)."""
        return self._hits / len(self._window) if self._window else None
