"""A big user's vectors on disk: an SQ8 index memory-mapped from its file, and the ids beside it.

A user past `JM_STM_PARTIAL_USER_VECTORS` is searched through a snapshot of its vectors built from the
store: FAISS 8-bit scalar quantisation trained on the user's own vectors (a quarter of float32's size; its
recall is in docs/performance.md, "Index at scale"), written once and then mapped read-only
(`IO_FLAG_MMAP_IFC`), so opening a million-vector user costs milliseconds, the pages are the operating
system's to cache or drop, and nothing is re-embedded after a restart.

A flat SQ8 scan reads every code, a byte per dimension per vector on every query: at a million vectors
memory bandwidth sets its latency. From `JM_STM_SNAPSHOT_IVF_VECTORS` vectors the snapshot is an inverted
file over the same codes (IVF-SQ8, `SnapshotShape`): k-means lists trained on a sample spread over the
whole user, and a search probes `probe_ratio` of the lists nearest the query: a fraction of the flat
scan's time at nearly its recall (`jean-memory-dev goals --section million`; docs/performance.md, "A
million memories"); text embeddings cluster far better than the hash embedder's, so the same share recalls
more.

The snapshot covers the store's rows up to a journal `seq`;
what changed since (`seq > covered`) is applied on top by the caller (`layered.LayeredIndex` keeps a small
delta in RAM and tombstones in the snapshot).

    <data>/index/<hash of the owner>/codes.faiss   the SQ8 index
                                     ids.npy       position -> id (36-byte UUIDs)
                                     sorted.npy    the ids sorted, and order.npy their positions (lookups)
                                     meta.json     owner, covered seq, count, dim, model
                                     bm25/         BM25 over the same memories' texts (`lexical_snapshot`)
                                     fields/       the fields filters name, as columns (`snapshot_fields`)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from jean_memory.config import IndexKind
from jean_memory.memory import Memory
from jean_memory.storage.large import lexical_snapshot, snapshot_fields
from jean_memory.storage.large.lexical_snapshot import LexicalBuilder
from jean_memory.storage.large.snapshot_fields import FieldsBuilder
from jean_memory.storage.vector_index import SQ8_MIN_TRAIN, new_index

#: 2: with the lexical index (`bm25/`); 3: with the filter columns (`fields/`). A snapshot of another
#: format is built again.
FORMAT = 3
ID_BYTES = 36  # a UUID in its canonical text form
#: Training vectors per inverted list (FAISS warns under 39; more buys little and costs k-means time).
IVF_TRAIN_PER_LIST = 64
IVF_MIN_LISTS = 64
IVF_MAX_LISTS = 4096


@dataclass(frozen=True)
class SnapshotShape:
    """How snapshots are laid out and searched (`JM_STM_SNAPSHOT_IVF_VECTORS`, `JM_STM_SNAPSHOT_PROBE_RATIO`)."""

    ivf_min_vectors: int = 100_000  # 0: always a flat scan
    probe_ratio: float = 0.15

    def ivf(self, count: int) -> bool:
        return bool(self.ivf_min_vectors) and count >= self.ivf_min_vectors

    def training_size(self, count: int) -> int:
        """Vectors to sample for the lists of a `count`-vector snapshot (0: a flat one)."""
        return min(count, IVF_TRAIN_PER_LIST * ivf_lists(count)) if self.ivf(count) else 0

    def probes(self, lists: int) -> int:
        return max(1, min(lists, round(self.probe_ratio * lists)))


def ivf_lists(count: int) -> int:
    """Inverted lists for `count` vectors: the power of two nearest sqrt(count) (1,024 for a million), so a
    list and the probe of the coarse centroids both stay about sqrt(count) long."""
    lists = 1 << max(0, round(np.log2(max(1.0, np.sqrt(count)))))
    return int(min(IVF_MAX_LISTS, max(IVF_MIN_LISTS, lists)))


def new_ivf(dim: int, count: int, sample: np.ndarray) -> faiss.Index:
    """An empty IVF-SQ8 index for about `count` vectors: its lists and its 8-bit ranges (of the residuals to
    the lists' centroids) trained on `sample`, with a direct map so a position can be reconstructed
    (filtered searches)."""
    index = faiss.index_factory(dim, f"IVF{ivf_lists(count)},SQ8", faiss.METRIC_INNER_PRODUCT)
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    faiss.extract_index_ivf(index).make_direct_map()
    return index


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

    def __init__(self, folder: Path, meta: SnapshotMeta, shape: SnapshotShape) -> None:
        self.folder = folder
        self.meta = meta
        self.index = faiss.read_index(str(folder / "codes.faiss"), faiss.IO_FLAG_MMAP_IFC)
        ivf = faiss.try_extract_index_ivf(self.index)
        self.lists = int(ivf.nlist) if ivf is not None else 0
        self.probes = shape.probes(self.lists) if ivf is not None else 0
        if ivf is not None:
            ivf.nprobe = self.probes
        self.ids: np.ndarray = np.load(folder / "ids.npy", mmap_mode="r")
        self._sorted: np.ndarray = np.load(folder / "sorted.npy", mmap_mode="r")
        self._order: np.ndarray = np.load(folder / "order.npy", mmap_mode="r")
        self.lexical = lexical_snapshot.load(folder)
        self.fields = snapshot_fields.load(folder)

    def __len__(self) -> int:
        return self.meta.count

    @property
    def nbytes(self) -> int:
        """Bytes on disk (mapped, not counted against the tier's RAM budget)."""
        return sum(f.stat().st_size for f in self.folder.rglob("*") if f.is_file())

    def position(self, memory_id: str) -> int | None:
        key = memory_id.encode()
        i = int(np.searchsorted(self._sorted, key))
        if i < len(self._sorted) and self._sorted[i] == key:
            return int(self._order[i])
        return None

    def positions(self, memory_ids: Sequence[str]) -> np.ndarray:
        """The positions of those of `memory_ids` the snapshot holds (one vectorised lookup)."""
        if not memory_ids:
            return np.empty(0, dtype=np.int64)
        keys = np.array([m.encode() for m in memory_ids], dtype=self._sorted.dtype)
        at = np.minimum(np.searchsorted(self._sorted, keys), len(self._sorted) - 1)
        return np.asarray(self._order[at[self._sorted[at] == keys]], dtype=np.int64)

    def id_at(self, position: int) -> str:
        return bytes(self.ids[position]).decode()

    def newest(self, selected: np.ndarray, limit: int, before: tuple[float, str] | None) -> list[str]:
        """The ids of the `limit` newest `selected` positions (by created_at, then id) strictly before the
        position `before`, newest first, from the `created_at` column; [] without columns."""
        if self.fields is None:
            return []
        created = self.fields.entries("created_at").number
        positions = np.flatnonzero(selected)
        if before is not None:
            at = created[positions]
            tied = positions[at == before[0]]
            earlier = [p for p, i in zip(tied, self.ids[tied].tolist(), strict=True) if i.decode() < before[1]]
            positions = np.concatenate([positions[at < before[0]], np.array(earlier, dtype=np.int64)])
        if len(positions) > limit:  # the newest `limit`, and any tied with the last of them
            at = created[positions]
            positions = positions[at >= np.partition(at, len(at) - limit)[len(at) - limit]]
        ranked = sorted(
            ((float(created[p]), i.decode()) for p, i in zip(positions, self.ids[positions].tolist(), strict=True)),
            reverse=True,
        )
        return [i for _, i in ranked[:limit]]

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(query, min(k, self.meta.count))  # type: ignore[no-any-return]

    def reconstruct(self, positions: np.ndarray) -> np.ndarray:
        return self.index.reconstruct_batch(positions)  # type: ignore[no-any-return]


def load(folder: Path, owner: str, dim: int, model: str, shape: SnapshotShape) -> Snapshot | None:
    """The user's snapshot if there is a usable one (same owner, dimension, model and format; flat or IVF,
    whatever `shape` says now: a flat one becomes IVF at its next rebuild)."""
    try:
        raw = json.loads((folder / "meta.json").read_text())
        meta = SnapshotMeta(**raw)
    except (OSError, ValueError, TypeError):
        return None
    if (meta.owner, meta.dim, meta.model, meta.format) != (owner, dim, model, FORMAT) or meta.count == 0:
        return None
    try:
        return Snapshot(folder, meta, shape)
    except (OSError, RuntimeError, ValueError):
        return None


def build(
    folder: Path,
    owner: str,
    dim: int,
    model: str,
    chunks: Iterable[tuple[list[str], np.ndarray, list[Memory]]],
    shape: SnapshotShape,
    seq: int,
    count: int = 0,
    sample: np.ndarray | None = None,
) -> Snapshot | None:
    """Write a snapshot from (ids, float32 vectors, memories) chunks, atomically: a reader sees the old
    snapshot or the new one, never half of one; the texts are indexed for BM25 beside the vectors, and
    the fields a filter names are written as columns. It
    covers the store up to `seq`, read before the first chunk: a row changed while the chunks are read has
    a later seq, so the catch-up after the build finds it (the highest seq among the chunks would pass a
    row changed after its chunk was read).
    With about `count` vectors and a training `sample` of `shape.training_size(count)` spread over them,
    an IVF one; else flat, its quantiser trained on the first chunk. None when there is nothing to index
    or an id is not a UUID."""
    index: faiss.Index | None = None
    ids: list[bytes] = []
    texts = LexicalBuilder()
    fields = FieldsBuilder()
    for chunk_ids, vectors, memories in chunks:
        if not chunk_ids:
            continue
        if any(len(i) != ID_BYTES for i in chunk_ids):
            return None
        if index is None and sample is not None and shape.ivf(count) and len(sample) >= ivf_lists(count):
            index = new_ivf(dim, count, sample)
        elif index is None:
            first = vectors if len(vectors) >= SQ8_MIN_TRAIN else None
            index = new_index(IndexKind.SQ8, dim, sample=first)
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        ids.extend(i.encode() for i in chunk_ids)
        texts.add([m.content for m in memories])
        fields.add(memories)
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
        texts.write(tmp)
        fields.write(tmp)
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
    return Snapshot(folder, meta, shape)


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
