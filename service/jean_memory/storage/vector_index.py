"""One user's vectors in FAISS.

Each user has an index of their own, so a search only ever scores that user's vectors: a user with
five memories among 100,000 others gets all five back, and no filter follows a global top-k cut.
Small users get an exact `IndexFlatIP`; with `auto`, a user who grows past a threshold is rebuilt
into HNSW or 8-bit scalar quantisation (SQ8, a quarter of the memory). Deletes leave tombstones that
searches skip, and the index is compacted once a fifth of it is dead.

A large user's storage is never moved on the event loop. A flat or SQ8 index keeps its vectors in one
buffer, which FAISS grows by copying every vector, and the switch to SQ8 at the threshold trains and
encodes the whole user: both held the loop for milliseconds (docs/performance.md, "Measurements behind
design choices"). So from `INLINE_ROWS` vectors
on, the buffer's room is reserved ahead (`_capacity`, counted in `nbytes`), and once it is three
quarters full a worker thread builds the replacement, the larger buffer or the SQ8 index, from the rows
present when it started (FAISS releases the interpreter while it copies, trains and encodes; rows added
meanwhile are handed to it too when there are many). The current index keeps taking adds into its spare
room and answering searches, so an acknowledged add is searchable at once as before; the replacement is
swapped in at the next add or search after it is ready, with the few rows added since copied across.
Positions are kept, so ids and tombstones carry over unchanged. Should the room run out first, the add
waits for the worker (the buffer must not move under it) rather than search a stale index.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait

import faiss
import numpy as np

from jean_memory.config import IndexKind

# Single queries are faster on one OpenMP thread than on two here, and the event loop needs a core.
faiss.omp_set_num_threads(1)

_SQ8_RANGE = 1.0  # unit vectors never leave [-1, 1], so a fixed range never clips
#: Vectors an SQ8 index is trained on (per-dimension ranges) before a user is quantised.
SQ8_MIN_TRAIN = 1000
#: Below this many vectors FAISS grows the storage as it likes, and a rebuild is inline: copying a megabyte
#: or so costs less than a hand-off to a thread, and a small user's memory stays as it was. From here on
#: its room is reserved ahead, and grown by the worker.
INLINE_ROWS = 1024
#: A rebuild that finds more rows added since it began than this hands them to the worker as well.
CATCH_UP_ROWS = 256

# One thread for every user's rebuilds: they are rare, and two at once would only compete for a core.
# OpenMP's thread count is per thread: this one's is set too, or SQ8's training takes both cores.
_builder = ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="vector-index", initializer=faiss.omp_set_num_threads, initargs=(1,)
)


def _sq8(dim: int, sample: np.ndarray | None) -> faiss.Index:
    index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    if sample is not None and len(sample) >= SQ8_MIN_TRAIN:
        # Per-dimension range from the data, with a small margin for vectors added later (a vector
        # outside it is clipped, not lost; compaction retrains). On a million MiniLM vectors, recall@10
        # was 0.984 with a 10 % margin, 0.9875 with 2 %, 0.9925 with none.
        lo, hi = sample.min(axis=0), sample.max(axis=0)
        margin = 0.02 * (hi - lo) + 1e-3
        train = np.vstack([lo - margin, hi + margin]).astype(np.float32)
    else:
        train = np.vstack([np.full(dim, -_SQ8_RANGE), np.full(dim, _SQ8_RANGE)]).astype(np.float32)
    index.train(train)
    return index


def new_index(
    kind: IndexKind, dim: int, *, hnsw_m: int = 32, ef_search: int = 128, sample: np.ndarray | None = None
) -> faiss.Index:
    if kind is IndexKind.HNSW:
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = ef_search
        index.hnsw.efConstruction = max(40, 2 * hnsw_m)
        return index
    if kind is IndexKind.SQ8:
        return _sq8(dim, sample)
    return faiss.IndexFlatIP(dim)


def bytes_per_vector(kind: IndexKind, dim: int, hnsw_m: int = 32) -> int:
    if kind is IndexKind.SQ8:
        return dim
    if kind is IndexKind.HNSW:
        return 4 * dim + 2 * 4 * hnsw_m + 8  # vectors + level-0 links (approximate)
    return 4 * dim


def _reserve(index: faiss.IndexFlatCodes, rows: int) -> None:
    """Room for `rows` vectors in a flat or SQ8 index's buffer (a vector's resize keeps its capacity)."""
    size = index.codes.size()
    index.codes.resize(rows * index.code_size)
    index.codes.resize(size)


def _empty_like(index: faiss.IndexFlatCodes) -> faiss.IndexFlatCodes:
    """An empty index of the same kind and training (SQ8's ranges) as a flat or SQ8 one."""
    if isinstance(index, faiss.IndexScalarQuantizer):
        out = faiss.IndexScalarQuantizer(index.d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        faiss.copy_array_to_vector(faiss.vector_to_array(index.sq.trained), out.sq.trained)
        out.is_trained = True
        return out
    return faiss.IndexFlatIP(index.d)


def _copy_rows(source: faiss.IndexFlatCodes, target: faiss.IndexFlatCodes, start: int, rows: int) -> None:
    """Append `source`'s rows [start, start + rows) to `target`, codes as they are (no re-encoding)."""
    if rows:
        size = source.code_size
        codes = faiss.rev_swig_ptr(source.codes.data(), (start + rows) * size)[start * size :]
        target.add_sa_codes(codes.reshape(rows, size))


def _rebuilt(source: faiss.Index, rows: int, kind: IndexKind | None, capacity: int, m: int, ef: int) -> faiss.Index:
    """In the worker: `source`'s first `rows` vectors in a new index with room for `capacity`, of the same
    kind (`None`: a larger buffer) or of `kind` (trained on those vectors, tombstoned ones included)."""
    if kind is None:
        assert isinstance(source, faiss.IndexFlatCodes)
        grown = _empty_like(source)
        _reserve(grown, capacity)
        _copy_rows(source, grown, 0, rows)
        return grown
    vectors = source.reconstruct_n(0, rows)
    out = new_index(kind, source.d, hnsw_m=m, ef_search=ef, sample=vectors)
    if isinstance(out, faiss.IndexFlatCodes):
        _reserve(out, capacity)
    out.add(vectors)
    return out


class _Build:
    """A replacement index being built in the worker from `source`'s first `rows` positions."""

    __slots__ = ("capacity", "future", "kind", "rows", "source")

    def __init__(
        self, source: faiss.Index, kind: IndexKind | None, capacity: int, hnsw_m: int = 32, ef_search: int = 128
    ) -> None:
        self.source: faiss.Index | None = source
        self.rows = int(source.ntotal)
        self.kind = kind
        self.capacity = capacity if kind in (None, IndexKind.FLAT, IndexKind.SQ8) else 0
        self.future: Future[faiss.Index] = _builder.submit(
            _rebuilt, source, self.rows, kind, capacity, hnsw_m, ef_search
        )


def _caught_up(source: faiss.Index, target: faiss.Index, start: int, end: int) -> faiss.Index:
    """In the worker: a rebuilt index, not in use yet, given the rows added to `source` since it began."""
    _copy_or_add(source, target, start, end - start)
    return target


def _retire(index: faiss.Index) -> None:
    """Free a replaced index in the worker: unmapping its tens of megabytes took milliseconds. (The caller
    drops its own reference right after; the worker needs the interpreter first, so it is the last.)"""
    box = [index]
    del index
    _builder.submit(box.clear)


def _copy_or_add(source: faiss.Index, target: faiss.Index, start: int, rows: int) -> None:
    """The rows added since a rebuild started: codes copied when both index kinds match, else re-added."""
    if type(source) is type(target) and isinstance(source, faiss.IndexFlatCodes):
        assert isinstance(target, faiss.IndexFlatCodes)
        _copy_rows(source, target, start, rows)
    elif rows:
        target.add(source.reconstruct_n(start, rows))


class UserIndex:
    """Vectors of one user, addressed by memory id."""

    __slots__ = (
        "_auto",
        "_build",
        "_capacity",
        "_dead",
        "_ef",
        "_index",
        "_large_kind",
        "_m",
        "_pos",
        "_threshold",
        "dim",
        "ids",
        "kind",
    )

    def __init__(
        self,
        dim: int,
        kind: IndexKind,
        *,
        large_kind: IndexKind = IndexKind.SQ8,
        large_threshold: int = 20000,
        hnsw_m: int = 32,
        ef_search: int = 128,
    ) -> None:
        self.dim = dim
        if kind is IndexKind.SQ8:
            # SQ8 quantises each dimension over a range trained on the user's own vectors; a fixed [-1, 1]
            # range wastes most of the 256 levels (recall@10 0.947 against 0.984 on a million MiniLM
            # vectors). Until the user has enough vectors to train on, they are kept exact.
            kind, large_kind, large_threshold = IndexKind.AUTO, IndexKind.SQ8, SQ8_MIN_TRAIN
        self._auto = kind is IndexKind.AUTO
        self.kind = IndexKind.FLAT if self._auto else kind
        self._large_kind = large_kind
        self._threshold = large_threshold
        self._m = hnsw_m
        self._ef = ef_search
        self._index = new_index(self.kind, dim, hnsw_m=hnsw_m, ef_search=ef_search)
        self.ids: list[str] = []  # position -> memory id
        self._pos: dict[str, int] = {}  # live memory id -> position
        self._dead = 0
        #: Vectors the buffer holds without moving (0: not reserved, FAISS grows it as it likes).
        self._capacity = 0
        self._build: _Build | None = None

    def __len__(self) -> int:
        return len(self._pos)

    def __contains__(self, memory_id: str) -> bool:
        return memory_id in self._pos

    @property
    def nbytes(self) -> int:
        """RAM of the vectors, their ids, and the room reserved ahead of them (a quarter to a half full
        after each growth, as a doubling vector's)."""
        per_vector = bytes_per_vector(self.kind, self.dim, self._m)
        return len(self.ids) * (per_vector + 80) + max(0, self._capacity - len(self.ids)) * per_vector

    def add(self, memory_ids: list[str], vectors: np.ndarray) -> None:
        """Add (or replace) vectors; replacing an id tombstones its old position."""
        if not memory_ids:
            return
        self._swap_if_built()
        for mid in memory_ids:
            if mid in self._pos:
                self._tombstone(mid)
        start = len(self.ids)
        if start + len(memory_ids) > self._capacity and (self._build is not None or self._capacity):
            self._outgrown(start + len(memory_ids))
        self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.ids.extend(memory_ids)
        for offset, mid in enumerate(memory_ids):
            self._pos[mid] = start + offset
        if self._auto and self.kind is IndexKind.FLAT and len(self._pos) >= self._threshold:
            if len(self.ids) <= INLINE_ROWS:
                self._rebuild(self._large_kind)
            elif self._build is None:
                room = max(2 * len(self.ids), self._capacity)
                self._build = _Build(self._index, self._large_kind, room, self._m, self._ef)
        self._maybe_compact()
        self._plan_room()

    def settle(self) -> None:
        """Wait for a rebuild in the worker and swap it in (tests; a snapshot that wants the final kind)."""
        while self._build is not None:
            wait([self._build.future])
            self._swap_if_built()

    def _swap_if_built(self) -> None:
        build = self._build
        if build is None or not build.future.done():
            return
        self._build = None
        if build.source is not self._index or build.future.exception() is not None:
            return  # compacted meanwhile (the rows it copied are gone), or failed: planned again later
        index = build.future.result()
        if len(self.ids) - build.rows > CATCH_UP_ROWS:
            # Many rows came in while it was built (the switch to SQ8 trains and encodes 20,000): the
            # worker encodes them too, and the swap waits for that, not the loop.
            build.future = _builder.submit(_caught_up, self._index, index, build.rows, len(self.ids))
            build.rows = len(self.ids)
            self._build = build
            return
        _copy_or_add(self._index, index, build.rows, len(self.ids) - build.rows)
        old, self._index, build.source = self._index, index, None
        _retire(old)
        del old
        if build.kind is not None:
            self.kind = build.kind
        self._capacity = build.capacity

    def _outgrown(self, rows: int) -> None:
        """An add that could move the buffer (past its room, or of unknown room) while the worker reads
        it: wait for the worker first. Past the room of a reserved buffer, grow it here."""
        while self._build is not None:
            wait([self._build.future])
            self._swap_if_built()
        if self._capacity and rows > self._capacity and isinstance(self._index, faiss.IndexFlatCodes):
            self._capacity = max(2 * self._capacity, 2 * rows)
            _reserve(self._index, self._capacity)

    def _plan_room(self) -> None:
        """Reserve a flat or SQ8 buffer once it is worth it; have the worker grow it before it fills."""
        if self._build is not None or not isinstance(self._index, faiss.IndexFlatCodes):
            return
        rows = len(self.ids)
        if not self._capacity and rows < INLINE_ROWS:
            return  # FAISS grows it, copying at most a thousand vectors
        if 4 * rows > 3 * self._capacity:  # (an unreserved one is reserved here, by the worker, the first time)
            self._build = _Build(self._index, None, max(2 * self._capacity, 2 * rows))

    def remove(self, memory_id: str) -> bool:
        if memory_id not in self._pos:
            return False
        self._tombstone(memory_id)
        self._maybe_compact()
        return True

    def _tombstone(self, memory_id: str) -> None:
        pos = self._pos.pop(memory_id)
        self.ids[pos] = ""
        self._dead += 1

    def _maybe_compact(self) -> None:
        if self._dead > 64 and self._dead * 5 > len(self.ids):
            self._rebuild(self.kind)

    def vectors_of(self, memory_ids: list[str]) -> np.ndarray:
        """The stored vectors of these (live) ids, in order."""
        positions = np.fromiter((self._pos[m] for m in memory_ids), dtype=np.int64, count=len(memory_ids))
        return self._index.reconstruct_batch(positions)  # type: ignore[no-any-return]

    def _live_vectors(self) -> tuple[list[str], np.ndarray]:
        positions = np.fromiter(self._pos.values(), dtype=np.int64, count=len(self._pos))
        ids = list(self._pos.keys())
        if len(positions) == 0:
            return ids, np.zeros((0, self.dim), dtype=np.float32)
        return ids, self._index.reconstruct_batch(positions)

    def _rebuild(self, kind: IndexKind) -> None:
        self._swap_if_built()
        self._build = None  # one still running was copying rows this rebuild drops: its result is ignored
        ids, vectors = self._live_vectors()
        self.kind = kind
        self._index = new_index(kind, self.dim, hnsw_m=self._m, ef_search=self._ef, sample=vectors)
        self.ids, self._pos, self._dead, self._capacity = [], {}, 0, 0
        if ids:
            if len(ids) >= INLINE_ROWS and isinstance(self._index, faiss.IndexFlatCodes):
                self._capacity = 2 * len(ids)
                _reserve(self._index, self._capacity)
            self._index.add(vectors)
            self.ids = ids
            self._pos = {mid: i for i, mid in enumerate(ids)}

    def search(self, query: np.ndarray, k: int, allowed: list[str] | None = None) -> list[tuple[str, float]]:
        """Top-k (id, cosine score) among live vectors, or among `allowed` ids only (exact)."""
        if not self._pos:
            return []
        self._swap_if_built()
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if allowed is not None:
            return self._search_subset(q, k, allowed)
        want = min(len(self.ids), k + self._dead)
        scores, positions = self._index.search(q, want)
        out: list[tuple[str, float]] = []
        for score, pos in zip(scores[0], positions[0], strict=True):
            if pos < 0:
                continue
            mid = self.ids[pos]
            if mid:
                out.append((mid, float(score)))
                if len(out) == k:
                    break
        if len(out) < k and len(out) < len(self._pos) and self.kind is IndexKind.HNSW:
            # HNSW may return fewer than asked when tombstones crowd the beam: fall back to exact.
            return self._search_subset(q, k, list(self._pos))
        return out

    def _search_subset(self, q: np.ndarray, k: int, allowed: list[str]) -> list[tuple[str, float]]:
        live = [mid for mid in allowed if mid in self._pos]
        if not live:
            return []
        positions = np.fromiter((self._pos[m] for m in live), dtype=np.int64, count=len(live))
        vectors = self._index.reconstruct_batch(positions)
        scores = vectors @ q[0]
        top = np.argsort(-scores)[:k]
        return [(live[i], float(scores[i])) for i in top]
