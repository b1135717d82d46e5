"""Partial residency: how a user too big for the short-term tier is made searchable without its records.

When a promotion finds a user with at least `JM_STM_PARTIAL_USER_VECTORS` memories in the SQLite store,
the shuttle asks this module instead of loading every row:

1. the user's snapshot (`storage/large/snapshot.py`: its vectors and the BM25 of their texts) is mapped if one
   covers this model, else built from the store in a worker thread (streamed in chunks);
2. the store's rows changed since the snapshot's `seq` are caught up: their vectors go to the RAM delta,
   rows without a vector are tombstoned in the snapshot and queued for the model, and all of them are
   the changes its `PartialRecords` ranks by their words in RAM (`since`);
3. the journal's unshipped writes of the user become the overlay of its `PartialRecords` (and changes).

The space then holds a `LayeredIndex` and `PartialRecords`: its RAM cost is the overlay, a bounded record
cache, the changes since the snapshot and the delta, whatever the user's size, so a big user never evicts
everyone else. Housekeeping prunes overlays (not during a compaction, which reads the overlay when it
swaps) and rebuilds a snapshot whose delta has grown past `COMPACT_RATIO` of it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jean_memory.memory import ROW_COLUMNS, Memory, WriteOp, memory_from_row
from jean_memory.storage.large import snapshot
from jean_memory.storage.large.layered import LayeredIndex
from jean_memory.storage.large.records import PartialRecords
from jean_memory.storage.large.snapshot import Snapshot, SnapshotShape
from jean_memory.storage.lexical import LexicalIndex
from jean_memory.storage.ltm.sqlite_reader import SqliteRecordReader, readonly_connection
from jean_memory.storage.stm import ShortTermTier, UserSpace
from jean_memory.storage.vector_index import UserIndex

log = logging.getLogger(__name__)

#: Rows read from the store per chunk while building a snapshot.
CHUNK = 20_000
#: Row ids per query while reading an IVF snapshot's training sample (under SQLite's parameter limit).
SAMPLE_BATCH = 500
#: Rebuild a snapshot once its RAM delta, or the changes since it, reach this share of it (and at least
#: `COMPACT_MIN`).
COMPACT_RATIO = 0.1
COMPACT_MIN = 20_000

#: Called with memories whose vectors must be (re)computed, and their journal seqs (0: not journaled).
Schedule = Callable[[UserSpace, list[Memory], list[int]], None]


def _vector_chunks(
    path: Path, owner: str, model: str, unembedded: list[Memory]
) -> Iterator[tuple[list[str], np.ndarray, list[Memory]]]:
    """The user's stored vectors of `model` and their memories, in chunks; rows without one are collected
    in `unembedded`."""
    with readonly_connection(path) as conn:
        after = 0
        while True:
            rows = conn.execute(
                f"SELECT rowid, {ROW_COLUMNS} FROM memories WHERE user_id = ? AND rowid > ? ORDER BY rowid LIMIT ?",
                (owner, after, CHUNK),
            ).fetchall()
            if not rows:
                return
            after = rows[-1][0]
            ids: list[str] = []
            vectors: list[bytes] = []
            kept: list[Memory] = []
            for row in rows:
                memory = memory_from_row(row[1:])
                if memory.embedding is not None and memory.model == model:
                    ids.append(memory.id)
                    vectors.append(memory.embedding)
                    kept.append(memory)
                else:
                    memory.embedding = None
                    unembedded.append(memory)
            if ids:
                yield ids, np.frombuffer(b"".join(vectors), dtype=np.float32).reshape(len(ids), -1), kept


def _covered_seq(path: Path, owner: str) -> int:
    """The seq of the user's latest change in the store (its seq index): what a snapshot built from now on
    covers."""
    with readonly_connection(path) as conn:
        return int(conn.execute("SELECT coalesce(max(seq), 0) FROM memories WHERE user_id = ?", (owner,)).fetchone()[0])


def _training_sample(path: Path, owner: str, model: str, shape: SnapshotShape) -> tuple[int, np.ndarray | None]:
    """The user's row count and, where its snapshot will be IVF, vectors sampled evenly at random over all
    its rows (the lists must fit the whole user, not its oldest memories): row ids from the user index,
    then the sampled rows by id."""
    with readonly_connection(path) as conn:
        rowids = [r[0] for r in conn.execute("SELECT rowid FROM memories WHERE user_id = ?", (owner,))]
        want = shape.training_size(len(rowids))
        if not want:
            return len(rowids), None
        picked = sorted(random.Random(len(rowids)).sample(rowids, want))
        vectors: list[bytes] = []
        for start in range(0, len(picked), SAMPLE_BATCH):
            batch = picked[start : start + SAMPLE_BATCH]
            marks = ",".join("?" * len(batch))
            vectors += [
                row[0]
                for row in conn.execute(
                    f"SELECT embedding FROM memories WHERE rowid IN ({marks}) AND embedding IS NOT NULL AND model = ?",
                    (*batch, model),
                )
            ]
        if not vectors:
            return len(rowids), None
        return len(rowids), np.frombuffer(b"".join(vectors), dtype=np.float32).reshape(len(vectors), -1)


def _changes_since(path: Path, owner: str, seq: int) -> list[Memory]:
    with readonly_connection(path) as conn:
        rows = conn.execute(
            f"SELECT {ROW_COLUMNS} FROM memories WHERE user_id = ? AND seq > ?", (owner, seq)
        ).fetchall()
        unembedded = conn.execute(
            f"SELECT {ROW_COLUMNS} FROM memories WHERE user_id = ? AND embedding IS NULL AND seq <= ?", (owner, seq)
        ).fetchall()
        return [memory_from_row(r) for r in (*rows, *unembedded)]


@dataclass
class CatchUp:
    """What the store changed after a snapshot, made ready in a worker thread for the swap on the event
    loop (a bulk import leaves hundreds of thousands of rows: one at a time on the loop, seconds)."""

    #: Rows with a vector of the model: added to the delta (their snapshot positions tombstoned).
    ids: list[str]
    vectors: np.ndarray | None
    #: Rows without one (their vector cleared): tombstoned, and queued for the model at a load.
    stale: list[Memory]
    #: Every changed row without its vector, and its size: the user's `PartialRecords.since`.
    since: dict[str, Memory | None]
    since_bytes: int

    def apply(self, index: LayeredIndex) -> None:
        if self.ids and self.vectors is not None:
            index.add(self.ids, self.vectors)
        for memory in self.stale:
            index.remove(memory.id)


def _catch_up(path: Path, owner: str, seq: int, model: str) -> CatchUp:
    changed = _changes_since(path, owner, seq)
    fresh = [m for m in changed if m.embedding is not None and m.model == model]
    vectors = np.frombuffer(b"".join(m.embedding or b"" for m in fresh), dtype=np.float32) if fresh else None
    since, nbytes = PartialRecords.since_of(changed)
    stale = [m for m in changed if not (m.embedding is not None and m.model == model)]
    for memory in stale:
        memory.embedding = None
    return CatchUp(
        [m.id for m in fresh], vectors.reshape(len(fresh), -1) if vectors is not None else None, stale, since, nbytes
    )


class PartialResidency:
    def __init__(
        self,
        store_path: Path,
        root: Path,
        stm: ShortTermTier,
        dim: int,
        model: str,
        threshold: int,
        new_delta: Callable[[], UserIndex],
        shape: SnapshotShape,
    ) -> None:
        self._store_path = store_path
        self._root = root
        self._stm = stm
        self._dim = dim
        self._model = model
        self.threshold = threshold
        self._new_delta = new_delta
        self._shape = shape
        self._reader = SqliteRecordReader(store_path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot")
        self._compacting: set[str] = set()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._reader.close()

    async def is_big(self, owner: str) -> bool:
        """Whether the store holds at least `threshold` memories of the user (an index count, off the loop)."""

        def count() -> int:
            with readonly_connection(self._store_path) as conn:
                return int(conn.execute("SELECT count(*) FROM memories WHERE user_id = ?", (owner,)).fetchone()[0])

        return await asyncio.get_running_loop().run_in_executor(self._executor, count) >= self.threshold

    async def load(self, space: UserSpace, journal_ops: list[WriteOp], schedule: Schedule) -> None:
        """Make `space` partially resident (see the module docstring); `journal_ops` are the user's unshipped
        writes, in order (no `forget` among them: the caller loads such a user whole)."""
        owner = space.user_id
        folder = snapshot.folder_for(self._root, owner)
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        # Off the loop: the BM25 vocabulary is parsed from JSON (a word per distinct term of the user).
        base = await loop.run_in_executor(
            self._executor, snapshot.load, folder, owner, self._dim, self._model, self._shape
        )
        unembedded: list[Memory] = []
        if base is None:
            base = await loop.run_in_executor(self._executor, self._build, folder, owner, unembedded)
            log.info("built the index snapshot of a user with %d vectors in %.1f s", len(base) if base else 0,
                     time.perf_counter() - start)  # fmt: skip
        delta = self._new_delta()
        records = PartialRecords(owner, self._reader)
        if base is None:
            raise RuntimeError("no vectors to snapshot")  # the caller falls back to a whole load
        index = LayeredIndex(base, delta)
        # Rows the store changed since the snapshot, and rows still without a vector.
        caught = await loop.run_in_executor(
            self._executor, _catch_up, self._store_path, owner, base.meta.seq, self._model
        )
        caught.apply(index)
        unembedded += caught.stale
        records.changed_since_snapshot(caught.since, caught.since_bytes)
        space.text_index = LexicalIndex(context=0)  # it ranks the changed memories only
        space.records = records
        space.index = index
        seq_of: dict[str, int] = {}
        for op in journal_ops:  # the user's unshipped writes: the overlay, and their vectors
            memory = op.memory
            if op.kind in ("delete", "expire"):
                records.written(memory.id, None)
                index.remove(memory.id)
                seq_of.pop(memory.id, None)
            elif op.kind == "vector":
                current = records.get(memory.id)
                if current is not None and current.revision == memory.revision and memory.embedding is not None:
                    index.add([memory.id], np.frombuffer(memory.embedding, dtype=np.float32).reshape(1, -1))
            elif op.kind == "upsert":
                previous = records.get(memory.id)
                records.written(memory.id, memory)
                if memory.embedding is not None and memory.model == self._model:
                    index.add([memory.id], np.frombuffer(memory.embedding, dtype=np.float32).reshape(1, -1))
                elif previous is None or previous.content != memory.content:
                    index.remove(memory.id)
                    seq_of[memory.id] = op.seq
        pending = [records.overlay[i] for i in seq_of if records.overlay.get(i) is not None]
        rows = [m for m in unembedded if m.id not in records.overlay]
        todo = [*rows, *(m for m in pending if m is not None)]
        if todo:
            schedule(space, todo, [seq_of.get(m.id, 0) for m in todo])
        space.loaded = True
        space.deleted.clear()

    def _build(self, folder: Path, owner: str, unembedded: list[Memory]) -> Snapshot | None:
        seq = _covered_seq(self._store_path, owner)  # before any row is read
        count, sample = _training_sample(self._store_path, owner, self._model, self._shape)
        chunks = _vector_chunks(self._store_path, owner, self._model, unembedded)
        return snapshot.build(folder, owner, self._dim, self._model, chunks, self._shape, seq, count, sample)

    def forget(self, owner: str) -> None:
        """The user was forgotten: its snapshot goes too."""
        snapshot.remove(snapshot.folder_for(self._root, owner))

    async def upkeep(self) -> None:
        """Housekeeping: prune overlays; rebuild, in the background, a snapshot whose delta grew large."""
        for space in list(self._stm.all_spaces()):
            records, index = space.records, space.index
            if not isinstance(records, PartialRecords) or not isinstance(index, LayeredIndex):
                continue
            if space.user_id not in self._compacting:  # a compaction reads the overlay when it swaps
                records.prune()
            changes = max(index.delta_size, len(records.since))  # edits of metadata and deletes grow `since` only
            grown = changes >= max(COMPACT_MIN, COMPACT_RATIO * len(index.base))
            if grown and space.user_id not in self._compacting:
                self._compacting.add(space.user_id)
                asyncio.get_running_loop().create_task(self._compact(space))

    async def _compact(self, space: UserSpace) -> None:
        """A new snapshot from the store, swapped in without a pause: the new delta keeps only what the store
        does not hold yet (the overlay's writes) and what changed during the rebuild."""
        owner = space.user_id
        try:
            loop = asyncio.get_running_loop()
            base = await loop.run_in_executor(
                self._executor, self._build, snapshot.folder_for(self._root, owner), owner, []
            )
            if base is None:
                return
            caught = await loop.run_in_executor(
                self._executor, _catch_up, self._store_path, owner, base.meta.seq, self._model
            )
            old, records = space.index, space.records
            if not self._stm.is_current(space) or not isinstance(old, LayeredIndex):
                return
            index = LayeredIndex(base, self._new_delta())
            caught.apply(index)
            overlay = records.overlay if isinstance(records, PartialRecords) else {}
            unshipped = [i for i, m in overlay.items() if m is not None and i in old.delta]
            if unshipped:
                index.add(unshipped, old.delta.vectors_of(unshipped))
            for memory_id, latest in overlay.items():  # deleted, or a new text whose vector is not made yet
                if latest is None or memory_id not in old:
                    index.remove(memory_id)
            space.index = index
            if isinstance(records, PartialRecords):
                records.changed_since_snapshot(caught.since, caught.since_bytes)
                space.text_index.changed()
            log.info("rebuilt the index snapshot of a user with %d vectors; delta %d -> %d", len(base),
                     old.delta_size, index.delta_size)  # fmt: skip
        except Exception:
            log.exception("rebuilding a user's index snapshot failed; the current one stays")
        finally:
            self._compacting.discard(owner)
