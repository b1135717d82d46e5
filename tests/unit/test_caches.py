"""The read caches hold at most their entries and their bytes, whatever the values' sizes, and key a
query by a fixed-size digest (the text is never held)."""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry

from jean_memory.core.caches import LevelCache, digest
from jean_memory.telemetry.metrics import Metrics


def cache(size: int, max_bytes: int) -> LevelCache:
    return LevelCache("l2", size, Metrics(CollectorRegistry()).caches, max_bytes, lambda v: int(v.nbytes))


def test_bounded_by_bytes_when_entries_are_large() -> None:
    c = cache(size=10_000, max_bytes=1 << 16)
    for n in range(200):
        c.put(digest(f"query {n}"), np.zeros(1024, dtype=np.float32))  # 4 KiB each
    assert 0 < c.bytes <= 1 << 16
    assert len(c) == c.bytes // (4096 + 200) < 200


def test_bounded_by_entries_when_entries_are_small() -> None:
    c = cache(size=50, max_bytes=1 << 20)
    for n in range(500):
        c.put(digest(str(n)), np.zeros(1, dtype=np.float32))
    assert len(c) == 50


def test_a_value_larger_than_the_cache_is_not_kept() -> None:
    c = cache(size=10, max_bytes=1 << 16)
    c.put(b"small", np.zeros(4, dtype=np.float32))
    c.put(b"huge", np.zeros(1 << 16, dtype=np.float32))
    assert c.get(b"huge") is None and c.get(b"small") is not None


def test_a_query_is_keyed_by_16_bytes() -> None:
    assert len(digest("q" * 290_000)) == 16 and digest("a") != digest("b") and digest("a") == digest(b"a")
