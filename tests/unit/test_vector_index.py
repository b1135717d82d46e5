"""One user's FAISS index: exact results, deletes, rebuilds into HNSW/SQ8, filtered search."""

from __future__ import annotations

import threading

import faiss
import numpy as np
import pytest

from jean_memory.config import IndexKind
from jean_memory.storage.vector_index import INLINE_ROWS, SQ8_MIN_TRAIN, UserIndex, _builder


def unit(rows: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def exact_top(vectors: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    return list(np.argsort(-(vectors @ q))[:k])


@pytest.mark.parametrize("kind", [IndexKind.FLAT, IndexKind.HNSW, IndexKind.SQ8])
def test_search_matches_exact(kind: IndexKind) -> None:
    vecs = unit(1500)
    index = UserIndex(32, kind)
    index.add([f"m{i}" for i in range(1500)], vecs)
    index.settle()  # SQ8 from 1,500 vectors is built by the worker, swapped in at the next operation
    assert index.kind is kind
    q = vecs[17]
    got = [mid for mid, _ in index.search(q, 10)]
    want = [f"m{i}" for i in exact_top(vecs, q, 10)]
    assert got[0] == "m17"
    assert len(set(got) & set(want)) >= 9


def test_deleted_ids_never_returned_and_compaction_keeps_the_rest() -> None:
    vecs = unit(400)
    index = UserIndex(32, IndexKind.FLAT)
    index.add([f"m{i}" for i in range(400)], vecs)
    for i in range(0, 400, 2):
        assert index.remove(f"m{i}")
    assert not index.remove("m0")
    assert len(index) == 200
    dead = len(index.ids) - len(index)
    assert len(index.ids) < 400 and dead <= max(64, len(index.ids) // 5), "compacted when a fifth was dead"
    for mid, _ in index.search(vecs[0], 50):
        assert int(mid[1:]) % 2 == 1
    assert index.search(vecs[1], 1)[0][0] == "m1"


def test_sq8_is_exact_until_it_has_vectors_to_train_its_ranges_on() -> None:
    index = UserIndex(32, IndexKind.SQ8)
    vecs = unit(SQ8_MIN_TRAIN + 10)
    index.add([f"m{i}" for i in range(10)], vecs[:10])
    assert index.kind is IndexKind.FLAT
    index.add([f"m{i}" for i in range(10, SQ8_MIN_TRAIN + 10)], vecs[10:])
    assert index.kind is IndexKind.SQ8
    assert index.search(vecs[3], 1)[0][0] == "m3"


def test_auto_switches_large_users_to_the_large_index() -> None:
    index = UserIndex(32, IndexKind.AUTO, large_kind=IndexKind.SQ8, large_threshold=100)
    vecs = unit(150)
    index.add([f"m{i}" for i in range(50)], vecs[:50])
    assert index.kind is IndexKind.FLAT
    index.add([f"m{i}" for i in range(50, 150)], vecs[50:])
    assert index.kind is IndexKind.SQ8
    assert index.nbytes < 150 * 32 * 4, "SQ8 is smaller than float32"
    assert index.search(vecs[120], 1)[0][0] == "m120"


def test_subset_search_scores_only_allowed_ids() -> None:
    vecs = unit(300)
    index = UserIndex(32, IndexKind.HNSW)
    index.add([f"m{i}" for i in range(300)], vecs)
    allowed = ["m3", "m5", "m250"]
    got = index.search(vecs[250], 10, allowed)
    assert got[0][0] == "m250"
    assert {mid for mid, _ in got} == set(allowed)


def test_replacing_an_id_keeps_one_vector() -> None:
    vecs = unit(2)
    index = UserIndex(32, IndexKind.FLAT)
    index.add(["a"], vecs[:1])
    index.add(["a"], vecs[1:])
    assert len(index) == 1
    assert index.search(vecs[1], 5) == [("a", pytest.approx(1.0, abs=1e-5))]


def _held(index: UserIndex) -> threading.Event:
    """Hold the rebuild worker until the event is set, so a rebuild stays pending while the test adds."""
    gate = threading.Event()
    _builder.submit(gate.wait, 30)
    return gate


def _buffer(index: UserIndex) -> tuple[int, int]:
    inner = index._index  # the buffer's address is the point of the test
    assert isinstance(inner, faiss.IndexFlatCodes)
    return id(inner), int(inner.codes.data())


def test_a_large_users_buffer_never_moves_under_the_caller_and_every_add_is_searchable_at_once() -> None:
    vecs = unit(9000)
    index = UserIndex(32, IndexKind.FLAT)
    moved = 0
    for start in range(0, 9000, 128):
        before = _buffer(index) if len(index) else None
        ids = [f"m{i}" for i in range(start, min(start + 128, 9000))]
        index.add(ids, vecs[start : start + 128])
        if before is not None and len(index) > INLINE_ROWS and _buffer(index)[0] == before[0]:
            moved += _buffer(index)[1] != before[1]  # same index object, its storage reallocated here
        assert index.search(vecs[start], 1)[0][0] == f"m{start}"
    assert moved == 0
    index.settle()
    q = vecs[4321]
    assert [mid for mid, _ in index.search(q, 10)] == [f"m{i}" for i in exact_top(vecs, q, 10)]


def test_rows_added_replaced_and_removed_while_the_worker_rebuilds_into_sq8_carry_over() -> None:
    vecs = unit(4200)
    index = UserIndex(32, IndexKind.AUTO, large_kind=IndexKind.SQ8, large_threshold=4000)
    index.add([f"m{i}" for i in range(3000)], vecs[:3000])
    index.settle()
    gate = _held(index)
    index.add([f"m{i}" for i in range(3000, 4000)], vecs[3000:4000])  # crosses the threshold: queued
    assert index.kind is IndexKind.FLAT, "still exact while the worker is held"
    index.add([f"m{i}" for i in range(4000, 4100)], vecs[4000:4100])
    index.add(["m7"], vecs[4100:4101])  # replaced: its old row (copied by the worker) is a tombstone
    assert index.remove("m3500")
    assert index.search(vecs[4050], 1)[0][0] == "m4050", "searchable before the swap"
    gate.set()
    index.settle()
    assert index.kind is IndexKind.SQ8
    assert len(index) == 4099
    assert index.search(vecs[4100], 1)[0][0] == "m7"
    assert index.search(vecs[4050], 1)[0][0] == "m4050"
    assert all(mid != "m3500" for mid, _ in index.search(vecs[3500], 50))
    assert all(index.search(vecs[i], 1)[0][0] == f"m{i}" for i in range(0, 4100, 97) if i != 7 and i != 3500)


def test_a_compaction_while_the_worker_rebuilds_wins_and_the_stale_rebuild_is_dropped() -> None:
    vecs = unit(2000)
    index = UserIndex(32, IndexKind.FLAT)
    index.add([f"m{i}" for i in range(1000)], vecs[:1000])  # room for 2,000 reserved here
    gate = _held(index)
    index.add([f"m{i}" for i in range(1000, 1600)], vecs[1000:1600])  # three quarters full: a larger one queued
    assert index._build is not None
    for i in range(600):
        index.remove(f"m{i}")  # a fifth dead: compacted here, the queued copy is of rows now gone
    gate.set()
    index.settle()
    index.add([f"m{i}" for i in range(1600, 2000)], vecs[1600:2000])
    index.settle()
    assert len(index) == 1400
    live = vecs[600:2000]
    q = vecs[1500]
    assert [mid for mid, _ in index.search(q, 10)] == [f"m{600 + i}" for i in exact_top(live, q, 10)]


def test_rows_added_while_the_worker_trains_sq8_are_encoded_by_the_worker_too() -> None:
    vecs = unit(5200)
    index = UserIndex(32, IndexKind.AUTO, large_kind=IndexKind.SQ8, large_threshold=4000)
    index.add([f"m{i}" for i in range(3900)], vecs[:3900])
    index.settle()
    gate = _held(index)
    for start in range(3900, 5200, 100):  # the switch queued at 4,000; 1,200 more come in behind it
        index.add([f"m{i}" for i in range(start, start + 100)], vecs[start : start + 100])
    assert index.kind is IndexKind.FLAT
    gate.set()
    index.settle()
    assert index.kind is IndexKind.SQ8
    assert all(index.search(vecs[i], 1)[0][0] == f"m{i}" for i in range(0, 5200, 61))
