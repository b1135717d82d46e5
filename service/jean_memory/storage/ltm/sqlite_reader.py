"""Synchronous point reads of the SQLite store, for users too big to hold in the short-term tier.

A user past `JM_STM_PARTIAL_USER_VECTORS` keeps only its vectors (and its recent records) in RAM; its
other records are read from the store when a request needs them: the top-k of a search, a get, a page
of a list. These reads are primary-key or index lookups on a local file in WAL mode (tens of
microseconds from the page cache, never blocked by the writer), so they run on the event loop rather
than paying two thread hand-offs each. A separate read-only connection serves them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from jean_memory.filters import Filter
from jean_memory.memory import ALL, ROW_COLUMNS, Memory, Scope, memory_from_row

_SELECT = f"SELECT {ROW_COLUMNS} FROM memories"
#: The same rows without their vectors (1.5 KB a memory that a filter never reads).
_SCAN = f"SELECT {ROW_COLUMNS.replace('embedding', 'NULL AS embedding')} FROM memories"
#: The rows of the ids in a JSON array, without their texts and vectors (all a filter reads is metadata,
#: times and scope), each found by the primary key: the CROSS JOIN keeps SQLite from scanning an index
#: that a filter's condition matches instead (a time range made it read every row of the range).
_BY_IDS = (
    "SELECT "
    + ", ".join("m." + c.strip() for c in ROW_COLUMNS.split(","))
    .replace("m.embedding", "NULL")
    .replace("m.content", "''")
    + " FROM (SELECT value AS wanted FROM json_each(?)) CROSS JOIN memories m ON m.user_id = ? AND m.id = wanted"
)
#: SQLite binds at most 32766 parameters; ids are asked in chunks well below.
_CHUNK = 900


def readonly_uri(path: Path) -> str:
    """A read-only SQLite URI for the file (`as_uri` escapes what a path may hold; `//x` is not a host)."""
    return f"{path.resolve().as_uri()}?mode=ro"


@contextmanager
def readonly_connection(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection of its own, closed on leaving (sqlite3's own `with` only commits): for scans
    that run in a worker thread, where the reader's shared connection must not be used."""
    conn = sqlite3.connect(readonly_uri(path), uri=True)
    try:
        yield conn
    finally:
        conn.close()


def scope_clause(scope: Scope, exact: bool = False) -> tuple[str, list[object]]:
    """SQL (" AND ...", or "") and its parameters restricting rows to `scope`: each part that is set, or with
    `exact` both parts, None as NULL (the columns are indexed with the user: `memories_user_run`,
    `memories_user_agent`)."""
    sql = ""
    params: list[object] = []
    for column, value in (("agent_id", scope.agent_id), ("run_id", scope.run_id)):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
        elif exact:
            sql += f" AND {column} IS NULL"
    return sql, params


class SqliteRecordReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def _c(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(readonly_uri(self.path), uri=True, check_same_thread=False)
            self._conn.execute("PRAGMA query_only = 1")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def get_many(self, owner: str, ids: Sequence[str]) -> dict[str, Memory]:
        out: dict[str, Memory] = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = list(ids[i : i + _CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self._c().execute(f"{_SELECT} WHERE user_id = ? AND id IN ({marks})", (owner, *chunk)).fetchall()
            out.update((r[0], memory_from_row(r)) for r in rows)
        return out

    def page(self, owner: str, limit: int, before: tuple[float, str] | None, scope: Scope = ALL) -> list[Memory]:
        """Newest first, strictly older than `before` (created_at, id), in `scope`."""
        where, params = scope_clause(scope)
        if before is None:
            rows = (
                self._c()
                .execute(
                    f"{_SELECT} WHERE user_id = ?{where} ORDER BY created_at DESC, id DESC LIMIT ?",
                    (owner, *params, limit),
                )
                .fetchall()
            )
        else:
            rows = (
                self._c()
                .execute(
                    f"{_SELECT} WHERE user_id = ?{where} AND (created_at < ? OR (created_at = ? AND id < ?))"
                    " ORDER BY created_at DESC, id DESC LIMIT ?",
                    (owner, *params, before[0], before[0], before[1], limit),
                )
                .fetchall()
            )
        return [memory_from_row(r) for r in rows]

    def matching(self, owner: str, filters: Filter | None, scope: Scope = ALL, exact: bool = False) -> list[str]:
        """Ids of the user's stored memories in `scope` (see `scope_clause`: the indexed columns) that the
        filter selects: its SQL pre-filter narrows the scan (JSON1's json_each for metadata equality, the
        columns for time bounds and agent_id/run_id equality), its predicate has the final word on each row
        let through, so the store answers exactly as the short-term tier does.

        Unlike the point reads, this scans the user's rows (tens of milliseconds for 30,000 rows, seconds
        for a million), so callers run it off the event loop: it opens its own connection, safe in any
        thread."""
        where, scoped = scope_clause(scope, exact)
        with readonly_connection(self.path) as conn:
            if filters is None:  # a scope alone: the columns say it all, no row is parsed
                ids = conn.execute(f"SELECT id FROM memories WHERE user_id = ?{where}", (owner, *scoped))
                return [r[0] for r in ids]
            sql = f"{_SCAN} WHERE user_id = ?{where} AND ({filters.sql})"
            matches = filters.matches
            out: list[str] = []
            cursor = conn.execute(sql, (owner, *scoped, *filters.params))
            while rows := cursor.fetchmany(1000):
                out.extend(m.id for r in rows if matches(m := memory_from_row(r)))
        return out

    def select(self, owner: str, ids: Sequence[str], filters: Filter, scope: Scope, now: float) -> list[str]:
        """Which of `ids` (stored memories of the user) are unexpired at `now`, in `scope` and selected by
        the filter: primary-key lookups with the filter's SQL pre-filter (`_BY_IDS`), the rows it lets
        through parsed for its predicate. Safe in any thread (its own connection)."""
        where, scoped = scope_clause(scope)
        with readonly_connection(self.path) as conn:
            rows = conn.execute(
                f"{_BY_IDS} WHERE (expires_at IS NULL OR expires_at > ?){where} AND ({filters.sql})",
                (json.dumps(list(ids)), owner, now, *scoped, *filters.params),
            )
            return [m.id for r in rows if filters.matches(m := memory_from_row(r))]

    def expired(self, owner: str, now: float) -> list[Memory]:
        """The user's memories whose expiry has come, found through the expiry index (`+user_id` keeps the
        planner off the user's own indexes: through one, it read every row of a million-memory user, most
        of a second, on every sweep)."""
        rows = (
            self._c()
            .execute(f"{_SELECT} WHERE expires_at IS NOT NULL AND expires_at <= ? AND +user_id = ?", (now, owner))
            .fetchall()
        )
        return [memory_from_row(r) for r in rows]

    def has_scoped(self, owner: str) -> bool:
        """Whether any stored memory of the user has an agent or a run (two partial-index lookups)."""
        c = self._c()
        return any(
            c.execute(f"SELECT 1 FROM memories WHERE user_id = ? AND {column} IS NOT NULL LIMIT 1", (owner,)).fetchone()
            for column in ("agent_id", "run_id")
        )

    def count(self, owner: str) -> int:
        return int(self._c().execute("SELECT count(*) FROM memories WHERE user_id = ?", (owner,)).fetchone()[0])

    def ascending(self, owner: str, chunk: int = 1000) -> Iterator[list[Memory]]:
        """Every record of the user, oldest first, in chunks (keyset pagination: constant memory)."""
        after: tuple[float, str] = (float("-inf"), "")
        while True:
            rows = (
                self._c()
                .execute(
                    f"{_SELECT} WHERE user_id = ? AND (created_at > ? OR (created_at = ? AND id > ?))"
                    " ORDER BY created_at, id LIMIT ?",
                    (owner, after[0], after[0], after[1], chunk),
                )
                .fetchall()
            )
            if not rows:
                return
            memories = [memory_from_row(r) for r in rows]
            yield memories
            after = (memories[-1].created_at, memories[-1].id)
