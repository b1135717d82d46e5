"""One user's FAISS index: exact results, deletes, rebuilds into HNSW/SQ8, filtered search."""

from __future__ import annotations

import numpy as np
import pytest

from jean_memory.config import IndexKind
from jean_memory.storage.vector_index import SQ8_MIN_TRAIN, UserIndex


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
