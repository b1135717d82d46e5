"""A big user's vectors on disk: an SQ8 index memory-mapped from its file, and the ids beside it.

A user past `JM_STM_PARTIAL_USER_VECTORS` is searched through a snapshot of its vectors built from the
store: FAISS 8-bit scalar quantisation trained on the user's own vectors (a quarter of float32, recall@10
0.98 on a million MiniLM vectors), written once and then mapped read-only (`IO_FLAG_MMAP_IFC`), so
opening a million-vector user costs milliseconds, the pages are the operating system's to cache or drop,
and nothing is re-embedded after a restart. The snapshot covers the store's rows up to a journal `seq`;
what changed since (`seq > covered`) is applied on top by the caller (`UserIndex` keeps a small delta in
RAM and tombstones in the snapshot).

    <data>/index/<hash of the owner>/codes.faiss   the SQ8 index
                                     ids.npy       position -> id (36-byte UUIDs)
                                     sorted.npy    the ids sorted, and order.npy their positions (lookups)
                                     meta.json     owner, covered seq, count, dim, model
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from jean_memory.config import IndexKind
from jean_memory.storage.vector_index import SQ8_MIN_TRAIN, UserIndex, new_index

FORMAT = 1
ID_BYTES = 36  # a UUID in its canonical text form


@dataclass(frozen=True)
class SnapshotMeta:
    owner: str
    seq: int
    count: int
    dim: int
    model: str
    format: int = FORMAT


def folder_for(root: Path, owner: str) -> Path:
    return root / hashlib.sha256(owner.encode()).hexdigest()[:32]


class Snapshot:
    """A loaded (memory-mapped) snapshot: search it, find an id's position, reconstruct vectors."""

    def __init__(self, folder: Path, meta: SnapshotMeta) -> None:
        self.folder = folder
        self.meta = meta
        self.index = faiss.read_index(str(folder / "codes.faiss"), faiss.IO_FLAG_MMAP_IFC)
        self.ids: np.ndarray = np.load(folder / "ids.npy", mmap_mode="r")
        self._sorted: np.ndarray = np.load(folder / "sorted.npy", mmap_mode="r")
        self._order: np.ndarray = np.load(folder / "order.npy", mmap_mode="r")

    def __len__(self) -> int:
        return self.meta.count

    @property
    def nbytes(self) -> int:
        """Bytes on disk (mapped, not counted against the tier's RAM budget)."""
        return sum(f.stat().st_size for f in self.folder.iterdir() if f.is_file())

    def position(self, memory_id: str) -> int | None:
        key = memory_id.encode()
        i = int(np.searchsorted(self._sorted, key))
        if i < len(self._sorted) and self._sorted[i] == key:
            return int(self._order[i])
        return None

    def id_at(self, position: int) -> str:
        return bytes(self.ids[position]).decode()

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(query, min(k, self.meta.count))  # type: ignore[no-any-return]

    def reconstruct(self, positions: np.ndarray) -> np.ndarray:
        return self.index.reconstruct_batch(positions)  # type: ignore[no-any-return]


def load(folder: Path, owner: str, dim: int, model: str) -> Snapshot | None:
    """The user's snapshot if there is a usable one (same owner, dimension, model and format)."""
    try:
        raw = json.loads((folder / "meta.json").read_text())
        meta = SnapshotMeta(**raw)
    except (OSError, ValueError, TypeError):
        return None
    if (meta.owner, meta.dim, meta.model, meta.format) != (owner, dim, model, FORMAT) or meta.count == 0:
        return None
    try:
        return Snapshot(folder, meta)
    except (OSError, RuntimeError, ValueError):
        return None


def build(
    folder: Path, owner: str, dim: int, model: str, chunks: Iterable[tuple[list[str], np.ndarray, int]]
) -> Snapshot | None:
    """Write a snapshot from (ids, float32 vectors, max seq) chunks (the first one trains the quantiser),
    atomically: a reader sees the old snapshot or the new one, never half of one. None when there is
    nothing to index or an id is not a UUID."""
    index: faiss.Index | None = None
    ids: list[bytes] = []
    seq = 0
    for chunk_ids, vectors, chunk_seq in chunks:
        if not chunk_ids:
            continue
        if any(len(i) != ID_BYTES for i in chunk_ids):
            return None
        if index is None:
            sample = vectors if len(vectors) >= SQ8_MIN_TRAIN else None
            index = new_index(IndexKind.SQ8, dim, sample=sample)
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        ids.extend(i.encode() for i in chunk_ids)
        seq = max(seq, chunk_seq)
    if index is None or not ids:
        return None
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    try:
        faiss.write_index(index, str(tmp / "codes.faiss"))
        id_array = np.array(ids, dtype=f"S{ID_BYTES}")
        order = np.argsort(id_array, kind="stable")
        np.save(tmp / "ids.npy", id_array)
        np.save(tmp / "sorted.npy", id_array[order])
        np.save(tmp / "order.npy", order.astype(np.int64))
        meta = SnapshotMeta(owner, seq, len(ids), dim, model)
        (tmp / "meta.json").write_text(json.dumps(meta.__dict__))
        old = folder.with_name(folder.name + ".old")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)  # a mapped file stays readable until its reader lets go
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Snapshot(folder, meta)


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


class LayeredIndex:
    """A big user's index: the memory-mapped snapshot, plus the vectors changed since in a RAM delta.

    Same interface as `UserIndex`. A vector added for an id the snapshot holds replaces it (the snapshot
    position is tombstoned); a removed id is tombstoned or dropped from the delta. A search asks both and
    merges; tombstoned positions are skipped (asked for enough more to fill k).
    """

    __slots__ = ("_dead", "base", "delta")

    def __init__(self, base: Snapshot, delta: UserIndex) -> None:
        self.base = base
        self.delta = delta
        self._dead: set[int] = set()

    @property
    def kind(self) -> IndexKind:
        return IndexKind.SQ8

    @property
    def dim(self) -> int:
        return self.delta.dim

    def __len__(self) -> int:
        return len(self.base) - len(self._dead) + len(self.delta)

    def __contains__(self, memory_id: str) -> bool:
        if memory_id in self.delta:
            return True
        position = self.base.position(memory_id)
        return position is not None and position not in self._dead

    @property
    def nbytes(self) -> int:
        """RAM: the delta and the tombstones (the snapshot is mapped: `mapped_bytes`)."""
        return self.delta.nbytes + 64 * len(self._dead) + 1024

    @property
    def mapped_bytes(self) -> int:
        return self.base.meta.count * (self.dim + 2 * ID_BYTES + 8)

    @property
    def delta_size(self) -> int:
        return len(self.delta)

    def add(self, memory_ids: list[str], vectors: np.ndarray) -> None:
        for memory_id in memory_ids:
            self._tombstone_base(memory_id)
        self.delta.add(memory_ids, vectors)

    def remove(self, memory_id: str) -> bool:
        removed = self.delta.remove(memory_id)
        return self._tombstone_base(memory_id) or removed

    def _tombstone_base(self, memory_id: str) -> bool:
        position = self.base.position(memory_id)
        if position is None or position in self._dead:
            return False
        self._dead.add(position)
        return True

    def search(self, query: np.ndarray, k: int, allowed: list[str] | None = None) -> list[tuple[str, float]]:
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if allowed is not None:
            return self._search_subset(q, k, allowed)
        hits = self.delta.search(query, k)
        want = k + len(self._dead)
        scores, positions = self.base.search(q, want)
        for score, position in zip(scores[0], positions[0], strict=True):
            if position >= 0 and int(position) not in self._dead:
                hits.append((self.base.id_at(int(position)), float(score)))
        hits.sort(key=lambda h: -h[1])
        return hits[:k]

    def _search_subset(self, q: np.ndarray, k: int, allowed: list[str]) -> list[tuple[str, float]]:
        hits = self.delta.search(q[0], k, [m for m in allowed if m in self.delta])
        positions = [p for p in (self.base.position(m) for m in allowed if m not in self.delta) if p is not None]
        live = np.array([p for p in positions if p not in self._dead], dtype=np.int64)
        if len(live):
            scores = self.base.reconstruct(live) @ q[0]
            top = np.argsort(-scores)[:k]
            hits += [(self.base.id_at(int(live[i])), float(scores[i])) for i in top]
        hits.sort(key=lambda h: -h[1])
        return hits[:k]
