"""The interface every long-term store implements.

Writes arrive from the shuttle as ordered batches of upserts and deletes. Every implementation is
idempotent: replaying a batch (after a timeout whose outcome was unknown) leaves one row per memory.
A memory is identified by (user_id, id): ids are scoped by user, so two users may use one UUID.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from jean_memory.memory import Memory, WriteOp
from jean_memory.storage.ltm.history import HistoryEntry, latest, runs


class LongTermStore(ABC):
    #: Bounded metric label: sqlite, postgres or http.
    kind: str
    #: Whether `iter_keys` can enumerate every memory (so the Bloom filter can be complete).
    enumerable: bool = True
    #: Whether the store keeps vectors (so promotion need not re-embed, and vectors are backfilled).
    keeps_vectors: bool = True
    #: Whether the store keeps every version of a memory (`history`).
    keeps_history: bool = True
    #: The SQLite file, for the synchronous point reads of partially resident users (None: not SQLite).
    sqlite_path: Path | None = None

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open connections and create the schema."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise `LtmError` unless the store answers now."""

    @abstractmethod
    async def apply(self, ops: Sequence[WriteOp]) -> None:
        """Apply writes in order, atomically where the store allows; raise `LtmError` on failure."""

    @abstractmethod
    async def load_user(self, user_id: str) -> list[Memory]:
        """Every memory of one user, with its vector where the store keeps one."""

    @abstractmethod
    async def get(self, user_id: str, memory_id: str) -> Memory | None: ...

    async def iter_keys(self) -> AsyncIterator[list[str]]:
        """Every memory's key (`memory_key(user_id, id)`), in chunks; only called when `enumerable`."""
        if False:  # pragma: no cover - makes this an async generator
            yield []

    async def history(self, user_id: str, memory_id: str) -> list[HistoryEntry]:
        """Every version of one memory, oldest first (empty when the store keeps none: `keeps_history`)."""
        return []

    async def expired(self, now: float, limit: int) -> list[Memory]:
        """Up to `limit` stored memories whose `expires_at` has passed (for the expiry sweep)."""
        return []

    async def recent_users(self, limit: int) -> list[str]:
        """Users with the most recent memories, newest first (for start-up warm-up)."""
        return []

    @abstractmethod
    async def count(self) -> int: ...


def last_write_wins(ops: Sequence[WriteOp]) -> list[list[WriteOp]]:
    """Split ordered ops into runs of one kind, keeping only the last write to a memory within a run.

    A run of upserts then becomes one statement without two rows for one memory, and the order between
    an upsert and a later delete of the same memory is kept.
    """
    return [latest(run) for run in runs(ops)]
