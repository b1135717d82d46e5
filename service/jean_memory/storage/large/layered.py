"""A partially resident user's vector index: its memory-mapped snapshot (`snapshot.py`), plus a RAM delta.

The snapshot does not change once loaded (a new one comes with a new `LayeredIndex`); the delta and the
tombstones change under writes, on the event loop. So a search reads those on the loop and may scan the
snapshot in a worker thread (`search_off_loop`).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Sequence

import faiss
import numpy as np

from jean_memory.config import IndexKind
from jean_memory.memory import Scope
from jean_memory.storage.large import filter_masks, lexical_snapshot
from jean_memory.storage.large.filter_masks import Mask
from jean_memory.storage.large.selection import Selection, filtered_probes
from jean_memory.storage.large.snapshot import ID_BYTES, Snapshot
from jean_memory.storage.vector_index import UserIndex

#: The snapshot's part of a search: positions, ids and scores, in the order found.
BaseHits = tuple[list[int], list[str], list[float]]


class LayeredIndex:
    """A big user's index: the memory-mapped snapshot, plus the vectors changed since in a RAM delta.

    Same interface as `UserIndex`. A vector added for an id the snapshot holds replaces it (the snapshot
    position is tombstoned); a removed id is tombstoned or dropped from the delta. A search asks both and
    merges; tombstoned positions are skipped (asked for enough more to fill k).
    """

    __slots__ = ("_dead", "_void", "_void_lock", "base", "delta")

    def __init__(self, base: Snapshot, delta: UserIndex) -> None:
        self.base = base
        self.delta = delta
        self._dead: set[int] = set()
        #: The snapshot positions of the first n ids changed since it (`lexical_top`), found once each.
        self._void: tuple[int, np.ndarray] = (0, np.empty(0, dtype=np.int64))
        self._void_lock = threading.Lock()

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
        """RAM: the delta, the tombstones, the filter fields gathered (the snapshot is mapped: `mapped_bytes`)."""
        fields = self.base.fields.nbytes if self.base.fields is not None else 0
        return self.delta.nbytes + 64 * len(self._dead) + 1024 + fields

    @property
    def mapped_bytes(self) -> int:
        per_vector = self.dim + 2 * ID_BYTES + 8 + (8 if self.base.lists else 0)  # IVF lists keep an id per code
        return self.base.meta.count * per_vector

    @property
    def delta_size(self) -> int:
        return len(self.delta)

    def add(self, memory_ids: list[str], vectors: np.ndarray) -> None:
        self._dead.update(self.base.positions(memory_ids).tolist())  # one lookup for a catch-up's thousands
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

    def search(
        self, query: np.ndarray, k: int, allowed: list[str] | Selection | None = None
    ) -> list[tuple[str, float]]:
        """The best `k` (among `allowed`): the delta's and the snapshot's merged, tombstoned positions skipped."""
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        hits, base = self._delta_part(q, k, allowed)
        return self._merged(hits, base(), k)

    async def search_off_loop(
        self, query: np.ndarray, k: int, allowed: list[str] | Selection | None = None
    ) -> list[tuple[str, float]]:
        """`search` with the snapshot's part in a worker thread (FAISS scanning its codes, reconstructing
        vectors: milliseconds a search of a big user). The delta and the tombstones change under writes, so
        they are read here, on the event loop; the mapped snapshot does not (a new one comes with a new
        `LayeredIndex`). A position tombstoned while the worker ran is left out of its answer."""
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        hits, base = self._delta_part(q, k, allowed)
        return self._merged(hits, await asyncio.to_thread(base), k)

    def _delta_part(
        self, q: np.ndarray, k: int, allowed: list[str] | Selection | None
    ) -> tuple[list[tuple[str, float]], Callable[[], BaseHits]]:
        """The delta's hits, and the snapshot's part as a call that reads only what does not change."""
        if isinstance(allowed, Selection):  # it leaves the tombstoned out already
            hits = self.delta.search(q[0], k, [m for m in allowed.changed if m in self.delta])
            return hits, functools.partial(self._base_selection, q, k, allowed.base)
        dead = np.fromiter(self._dead, dtype=np.int64, count=len(self._dead))  # vectorised: thousands a round
        if allowed is not None:
            hits = self.delta.search(q[0], k, [m for m in allowed if m in self.delta])
            rest = [m for m in allowed if m not in self.delta]
            return hits, functools.partial(self._base_subset, q, k, rest, dead)
        return self.delta.search(q[0], k), functools.partial(self._base_top, q, k, dead)

    def _merged(self, hits: list[tuple[str, float]], base: BaseHits, k: int) -> list[tuple[str, float]]:
        positions, ids, scores = base
        hits += [(i, s) for p, i, s in zip(positions, ids, scores, strict=True) if p not in self._dead]
        hits.sort(key=lambda h: -h[1])
        return hits[:k]

    def _base_hits(self, positions: np.ndarray, scores: np.ndarray) -> BaseHits:
        ids = [i.decode() for i in self.base.ids[positions].tolist()]
        return positions.tolist(), ids, scores.tolist()

    def _base_top(self, q: np.ndarray, k: int, dead: np.ndarray) -> BaseHits:
        """The snapshot's best `k` positions not in `dead` (asked for enough more to skip them)."""
        scores, positions = self.base.search(q, k + len(dead))
        found, kept = positions[0], scores[0]
        live = found >= 0
        if len(dead):
            live &= ~np.isin(found, dead)
        return self._base_hits(found[live], kept[live])

    def sample(self, n: int) -> list[str]:
        """Up to `n` ids of the snapshot drawn at random (for estimates; those changed since are included)."""
        if not n or not len(self.base):
            return []
        positions = np.random.default_rng().choice(len(self.base), size=min(n, len(self.base)), replace=False)
        return [self.base.id_at(int(p)) for p in positions]

    def lexical_top(
        self, words: list[str], pool: int, allowed: list[str] | Selection | None, changed: Sequence[str], upto: int
    ) -> list[tuple[str, float]]:
        """The snapshot's best `pool` texts for the stemmed query `words` by its BM25, ids and scores (with
        `allowed`, among those ids). The first `upto` of `changed` (the ids changed since the snapshot, in
        the order they first changed: `PartialRecords.since_ids`) score nothing: the snapshot holds an old
        text of theirs, or one deleted since. Safe in a worker thread."""
        if self.base.lexical is None:
            return []
        void = self._voided(changed, upto)
        if isinstance(allowed, Selection):
            permitted: np.ndarray | None = allowed.base
        else:
            permitted = self.base.positions(allowed) if allowed is not None else None
        positions, scores = lexical_snapshot.top(self.base.lexical, words, pool, void, permitted)
        return [(self.base.id_at(int(p)), float(s)) for p, s in zip(positions, scores, strict=True)]

    def _voided(self, changed: Sequence[str], upto: int) -> np.ndarray:
        """The snapshot positions of the first `upto` ids changed since it, each looked up once."""
        with self._void_lock:
            done, void = self._void
            if upto > done:
                void = np.concatenate([void, self.base.positions(changed[done:upto])])
                self._void = (upto, void)
            return void

    def selection(self, mask: Mask, scope: Scope, now: float, changed: Sequence[str], upto: int) -> np.ndarray | None:
        """The snapshot positions the filter `mask` selects in `scope`, unexpired at `now`, from the snapshot's
        columns; the first `upto` of `changed` (as in `lexical_top`) left out. None where the snapshot has no
        columns or they cannot answer the filter. Safe in a worker thread."""
        fields = self.base.fields
        if fields is None:
            return None
        selected = mask(fields)
        if selected is None:
            return None
        selected &= filter_masks.in_scope(fields, scope) & filter_masks.unexpired(fields, now)
        selected[self._voided(changed, upto)] = False
        dead = list(self._dead)
        selected[dead] = False
        return selected

    def _base_selection(self, q: np.ndarray, k: int, selected: np.ndarray) -> BaseHits:
        """The snapshot's best `k` of a selection, through a bitmap of the selected positions (FAISS scores
        only those; an inverted file in `filtered_probes` of its lists). Its finds are scored as
        `_base_subset` scores them (their reconstructed vectors), so a selection and a list of its ids rank
        alike. The selection already leaves out the tombstoned positions."""
        chosen = int(np.count_nonzero(selected))
        if not chosen:
            return [], [], []
        bits = np.packbits(selected, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(selected), faiss.swig_ptr(bits))
        # `selector` and `bits` outlive the search: the parameters only point at them.
        params = faiss.SearchParameters()
        want = min(chosen, 2 * k)
        if self.base.lists:
            params = ivf = faiss.SearchParametersIVF()
            ivf.nprobe = filtered_probes(self.base.lists, self.base.probes, chosen, len(self.base), want)
        params.sel = selector
        _, found = self.base.index.search(q, want, params=params)
        positions = found[0][found[0] >= 0]
        if not len(positions):
            return [], [], []
        return self._base_hits(positions, self.base.reconstruct(positions) @ q[0])

    def _base_subset(self, q: np.ndarray, k: int, rest: list[str], dead: np.ndarray) -> BaseHits:
        """The snapshot's best `k` of the ids `rest`, by their reconstructed vectors."""
        positions = self.base.positions(rest)
        if len(dead):
            positions = positions[~np.isin(positions, dead)]
        if not len(positions):
            return [], [], []
        scores = self.base.reconstruct(positions) @ q[0]
        top = np.argsort(-scores)[:k]
        return self._base_hits(positions[top], scores[top])
