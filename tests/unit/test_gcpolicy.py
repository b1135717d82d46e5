"""The GC policy: survivors are frozen out of full collections, and cyclic garbage is still reclaimed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from jean_memory.gcpolicy import NO_AUTOMATIC_FULL, GcPolicy, young_objects
from jean_memory.telemetry.metrics import Metrics


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture
def policy() -> Iterator[tuple[GcPolicy, CollectorRegistry]]:
    registry = CollectorRegistry()
    p = GcPolicy(Metrics(registry).runtime, freeze_interval_s=1.0, full_collect_interval_s=60.0)
    p.install()
    yield p, registry
    p.uninstall()
    gc.unfreeze()


def test_tick_freezes_survivors_and_observes_pauses(policy: tuple[GcPolicy, CollectorRegistry]) -> None:
    p, registry = policy
    survivors = [Node() for _ in range(1000)]
    p._last_freeze -= 2.0  # a freeze is due
    p.tick()
    assert gc.get_freeze_count() >= len(survivors)
    # Counted as they are frozen (the scrape no longer walks the permanent generation): frozen objects
    # freed since by reference counting are still counted, until the next full collection recounts.
    frozen = registry.get_sample_value("jm_gc_frozen_objects")
    assert frozen is not None and frozen >= gc.get_freeze_count()
    assert registry.get_sample_value("jm_gc_pause_seconds_count", {"generation": "1"}) >= 1
    p._last_full -= 61.0
    p.tick()
    assert registry.get_sample_value("jm_gc_frozen_objects") == gc.get_freeze_count()


def testyoung_objects_counts_what_a_freeze_moves() -> None:
    gc.collect()
    gc.freeze()
    try:
        survivors = [Node() for _ in range(1000)]
        gc.collect(1)
        before = gc.get_freeze_count()
        counted = young_objects()
        gc.freeze()
        assert counted == gc.get_freeze_count() - before >= len(survivors)
    finally:
        gc.unfreeze()


def test_full_collection_reclaims_frozen_cycles(policy: tuple[GcPolicy, CollectorRegistry]) -> None:
    p, registry = policy
    node = Node()
    ref = weakref.ref(node)
    p._last_freeze -= 2.0
    p.tick()  # the cycle is frozen while still reachable
    del node
    gc.collect()
    assert ref() is not None, "a frozen cycle is skipped by ordinary collections"
    p._last_full -= 61.0
    p.tick()
    assert ref() is None, "the periodic full collection frees it"
    assert registry.get_sample_value("jm_gc_pause_seconds_count", {"generation": "2"}) >= 1


def test_no_full_collection_starts_by_itself_while_the_policy_is_on() -> None:
    """A burst of survivors (a batch's records) never sets off a full collection inside whatever callback
    allocates next: full collections are the policy's own; uninstalling gives CPython's thresholds back."""
    before = gc.get_threshold()
    p = GcPolicy(Metrics(CollectorRegistry()).runtime, 1.0, 60.0, young_threshold=500, middle_ratio=3)
    p.install()
    try:
        assert gc.get_threshold() == (500, 3, NO_AUTOMATIC_FULL)
        full = gc.get_stats()[2]["collections"]
        middle = gc.get_stats()[1]["collections"]
        survivors = [Node() for _ in range(300_000)]
        assert gc.get_stats()[2]["collections"] == full
        assert gc.get_stats()[1]["collections"] > middle  # the young generations are still collected
        del survivors
    finally:
        p.uninstall()
        gc.unfreeze()
    assert gc.get_threshold() == before
