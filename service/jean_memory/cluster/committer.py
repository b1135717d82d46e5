"""Group commit to PostgreSQL: every write waiting is committed in one statement, one round trip.

A write request hands its operations to the committer and awaits the outcome. One task drains the
queue: everything that arrived while the previous commit was in flight goes into the next
`jm_write(...)` call (up to `cluster_commit_max` operations), so under load many acknowledgements
share one commit, and an idle write costs one round trip. The queue is bounded: past
`cluster_max_pending` operations waiting, writes are refused with 503 and Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
import numpy as np
from prometheus_client import Histogram

from jean_memory import jsonutil
from jean_memory.cluster.pg import Pg
from jean_memory.cooperative import Slices
from jean_memory.errors import Overloaded, Unavailable
from jean_memory.memory import JsonObject
from jean_memory.telemetry.metrics import ClusterMetrics

log = logging.getLogger(__name__)

#: A group of more items than this, or with more text (contents and metadata, in characters), is sent
#: ahead in slices (`_write_staged`): asyncpg encodes a statement's arguments in one event-loop callback,
#: and 1,000 items held the loop there for 3 to 4 ms of CPU, 30 to 110 ms at maximum size (40 MB).
STAGE_ITEMS = 256
STAGE_CHARS = 1 << 20
#: Per staging statement, at most: about a millisecond of the event loop to encode.
STAGE_SLICE_ITEMS = 128
STAGE_SLICE_CHARS = 1 << 19

_COLUMNS = (
    "k, status, version, revision, content, metadata::text, salience, created_at, updated_at, expires_at, n,"
    " agent_id, run_id"
)
_WRITE = (
    f"SELECT {_COLUMNS}"
    " FROM jm_write($1, $2, $3, $4, $5, $6::jsonb[], $7, $8, $9, $10, $11, $12, $13::text[], $14::text[])"
)
_STAGE_TABLE = (
    "CREATE TEMP TABLE IF NOT EXISTS jm_staged_items (n INT PRIMARY KEY, req INT, kind TEXT, user_id TEXT, id TEXT,"
    " content TEXT, metadata JSONB, salience FLOAT8, t FLOAT8, expires FLOAT8, set_expiry BOOLEAN, agent_id TEXT,"
    " run_id TEXT) ON COMMIT DELETE ROWS"
)
_STAGE = (
    "INSERT INTO jm_staged_items SELECT * FROM unnest($1::int[], $2::int[], $3::text[], $4::text[], $5::text[],"
    " $6::text[], $7::jsonb[], $8::float8[], $9::float8[], $10::float8[], $11::boolean[], $12::text[], $13::text[])"
)
#: The same call with the items taken from the transaction's staging table, in item order.
_WRITE_STAGED = (
    f"SELECT {_COLUMNS} FROM (SELECT array_agg(req ORDER BY n) a1, array_agg(kind ORDER BY n) a2,"
    " array_agg(user_id ORDER BY n) a3, array_agg(id ORDER BY n) a4, array_agg(content ORDER BY n) a5,"
    " array_agg(metadata ORDER BY n) a6, array_agg(salience ORDER BY n) a7, array_agg(t ORDER BY n) a8,"
    " array_agg(expires ORDER BY n) a9, array_agg(set_expiry ORDER BY n) a10, array_agg(agent_id ORDER BY n) a11,"
    " array_agg(run_id ORDER BY n) a12 FROM jm_staged_items) s,"
    " jm_write(s.a1, s.a2, s.a3, s.a4, s.a5, s.a6, s.a7, s.a8, s.a9, s.a10, $1, $2, s.a11, s.a12)"
)

Kind = Literal["add", "update", "delete", "forget"]
Status = Literal[
    "inserted", "existing", "conflict", "skipped", "updated", "unchanged", "deleted", "missing", "forgotten"
]


@dataclass(slots=True)
class Op:
    """One operation of a write request. An add carries every field; an update None for a field it leaves
    as it is (`set_expiry` says whether `expires_at` applies); a delete or a forget only the id (or none).
    `agent_id` and `run_id` are an add's scope, or the scope a forget is restricted to (None: any).
    `time` is the add's created_at or the update's updated_at; `vector`, an add's vector when the write
    path computed it already (deduplication), goes to the replica's copy, not to PostgreSQL."""

    kind: Kind
    id: str = ""
    content: str | None = None
    metadata: JsonObject | None = None
    salience: float | None = None
    time: float = 0.0
    expires_at: float | None = None
    set_expiry: bool = False
    vector: np.ndarray | None = None
    agent_id: str | None = None
    run_id: str | None = None


@dataclass(slots=True)
class Outcome:
    """What the commit did with one operation; `version` is the user's version after the commit, the rest
    the memory as stored (repeats and updates), `count` a forget's number of memories."""

    status: Status
    version: int
    revision: int | None = None
    content: str | None = None
    metadata: JsonObject | None = None
    salience: float | None = None
    created_at: float | None = None
    updated_at: float | None = None
    expires_at: float | None = None
    count: int | None = None
    agent_id: str | None = None
    run_id: str | None = None


#: One request of a committed group: its user, its operations and their outcomes, in commit order.
Committed = tuple[str, Sequence[Op], list[Outcome]]


@dataclass(slots=True)
class _Request:
    user_id: str
    ops: Sequence[Op]
    future: asyncio.Future[list[Outcome]]


class GroupCommitter:
    def __init__(
        self,
        pg: Pg,
        metrics: ClusterMetrics,
        *,
        replica_id: str,
        lease_s: float,
        max_group: int,
        max_pending: int,
        retry_after_s: int,
        ltm_write: Histogram | None = None,
        on_committed: Callable[[list[Committed]], Awaitable[None]] | None = None,
    ) -> None:
        self._pg = pg
        self._metrics = metrics
        self._replica = replica_id
        self._lease = lease_s
        self._max_group = max_group
        self._max_pending = max_pending
        self._retry_after = retry_after_s
        self._queue: deque[_Request] = deque()
        #: Each commit is also a store-of-record write (`jm_ltm_write_duration_seconds`, as in embedded mode).
        self._ltm_write = ltm_write
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Operations queued or in the commit in flight: what admission control bounds.
        self.pending = 0
        #: Awaited with a whole committed group, in commit order, before any of its requests is answered, so
        #: the replica's copy takes the group's changes with the user's version (`OwnCommits`).
        self._on_committed = on_committed or _nothing
        #: The fire drill's `commit_pause_ms` fault: a stall between PostgreSQL's answer and acting on it.
        self.pause_s = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for request in self._queue:
            if not request.future.done():
                request.future.set_exception(Unavailable("shutting down", retry_after_s=self._retry_after))
        self._queue.clear()

    async def submit(self, user_id: str, ops: Sequence[Op]) -> list[Outcome]:
        """Commit these operations of one request (all or nothing); one outcome per operation, in order."""
        if self.pending + len(ops) > self._max_pending:
            raise Overloaded(
                f"too many writes waiting for PostgreSQL ({self.pending})", retry_after_s=self._retry_after
            )
        future: asyncio.Future[list[Outcome]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(user_id, ops, future))
        self.pending += len(ops)
        self._wake.set()
        try:
            return await asyncio.shield(future)  # a client that goes away does not undo a commit in flight
        finally:
            self.pending -= len(ops)

    def _take_group(self) -> list[_Request]:
        group: list[_Request] = []
        size = 0
        while self._queue and (not group or size + len(self._queue[0].ops) <= self._max_group):
            request = self._queue.popleft()
            group.append(request)
            size += len(request.ops)
        return group

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
            group = self._take_group()
            try:
                outcomes = await self._commit(group)
                if self.pause_s:
                    await asyncio.sleep(self.pause_s)
            except asyncio.CancelledError:
                for request in group:
                    request.future.cancel()
                raise
            except Exception as exc:
                error = (
                    exc
                    if isinstance(exc, Unavailable)
                    else Unavailable(f"commit failed: {type(exc).__name__}: {exc}", retry_after_s=self._retry_after)
                )
                for request in group:
                    if not request.future.done():
                        request.future.set_exception(error)
                continue
            try:
                committed = [(r.user_id, r.ops, result) for r, result in zip(group, outcomes, strict=True)]
                await self._on_committed(committed)
            except asyncio.CancelledError:
                # Shutting down mid-apply: the commit is durable, so its requests get their outcomes (this
                # replica's copies, half applied, go with the process).
                for request, result in zip(group, outcomes, strict=True):
                    if not request.future.done():
                        request.future.set_result(result)
                raise
            except Exception:  # the commit is durable: answer it; the copy catches up before its next read
                log.exception("applying a committed group to this replica's copies failed")
            for request, result in zip(group, outcomes, strict=True):
                if not request.future.done():
                    request.future.set_result(result)

    async def _commit(self, group: list[_Request]) -> list[list[Outcome]]:
        req: list[int] = []
        kind: list[str] = []
        users: list[str] = []
        ids: list[str] = []
        contents: list[str | None] = []
        metadata: list[str | None] = []
        salience: list[float | None] = []
        times: list[float] = []
        expires: list[float | None] = []
        set_expiry: list[bool] = []
        payload = 0
        slices = Slices()  # a group of large items took 100 ms to lay out (its metadata serialized) at once
        agents: list[str | None] = []
        runs: list[str | None] = []
        for n, request in enumerate(group):
            for op in request.ops:
                req.append(n)
                kind.append(op.kind)
                users.append(request.user_id)
                ids.append(op.id)
                contents.append(op.content)
                metadata.append(jsonutil.dumps_str(op.metadata) if op.metadata is not None else None)
                salience.append(op.salience)
                times.append(op.time)
                expires.append(op.expires_at)
                set_expiry.append(op.set_expiry)
                agents.append(op.agent_id)
                runs.append(op.run_id)
                await slices.pause()
                payload += len(op.content or "") + len(metadata[-1] or "")
        start = time.perf_counter()
        columns = (req, kind, users, ids, contents, metadata, salience, times, expires, set_expiry, agents, runs)
        if len(req) <= STAGE_ITEMS and payload <= STAGE_CHARS:
            rows = await self._pg.fetch(_WRITE, *columns[:10], self._replica, self._lease, *columns[10:])
        else:
            rows = await self._pg.run(lambda conn: _write_staged(conn, columns, (self._replica, self._lease)))
        took = time.perf_counter() - start
        self._metrics.commit_duration.observe(took)
        if self._ltm_write is not None:
            self._ltm_write.observe(took)
        self._metrics.commit_group_size.observe(len(req))
        by_item: dict[int, Outcome] = {}
        slices = Slices()
        for row in rows:
            meta = row[5]
            by_item[row[0] - 1] = Outcome(
                row[1], row[2] or 0, row[3], row[4], jsonutil.loads(meta) if meta is not None else None, *row[6:]
            )
            await slices.pause()
        out: list[list[Outcome]] = [[] for _ in group]
        for item, n in enumerate(req):
            out[n].append(by_item[item])
        return out


async def _nothing(group: list[Committed]) -> None:
    """No copies to keep (a committer without `OwnCommits`: a test's other replica)."""


async def _write_staged(
    conn: asyncpg.Connection, columns: tuple[list[Any], ...], args: tuple[str, float]
) -> list[asyncpg.Record]:
    """`jm_write` for a large group: its items go first into a temporary table, a slice per statement
    (the event loop runs between them), and the call reads them from there, in the same transaction, so
    the group is still one commit and one version per user."""
    contents, metadata = columns[4], columns[5]
    async with conn.transaction():
        await conn.execute(_STAGE_TABLE)
        start = 0
        while start < len(contents):
            end, chars = start, 0
            while (
                end < len(contents) and end - start < STAGE_SLICE_ITEMS and (end == start or chars < STAGE_SLICE_CHARS)
            ):
                chars += len(contents[end] or "") + len(metadata[end] or "")
                end += 1
            await conn.execute(_STAGE, list(range(start + 1, end + 1)), *(column[start:end] for column in columns))
            start = end
        rows: list[asyncpg.Record] = await conn.fetch(_WRITE_STAGED, *args)
        return rows
