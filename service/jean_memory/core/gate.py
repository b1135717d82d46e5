"""Per-user ordering of the writes that must not interleave: forgetting a user, and updates.

Forgetting a user must be atomic with respect to that user's adds: each add lands either fully
before the forget (and is forgotten with the rest) or fully after it (and survives), never with its
journal row before the forget and its short-term copy after. Adds therefore pass the user's gate:
many at once, except while a forget holds it; a forget waits for the adds already inside to finish,
and keeps new ones out until it is done. Updates of one user take the gate one at a time too, so two
concurrent updates of a memory give two revisions, never the same one twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator


class UserGate:
    def __init__(self) -> None:
        self._inside: defaultdict[str, int] = defaultdict(int)
        #: Weak: a user's lock lives while some writer holds or awaits it, so idle users cost nothing.
        self._exclusive: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._drained: dict[str, asyncio.Event] = {}

    def _lock(self, owner: str) -> asyncio.Lock:
        lock = self._exclusive.get(owner)
        if lock is None:
            lock = self._exclusive[owner] = asyncio.Lock()
        return lock

    @contextlib.asynccontextmanager
    async def shared(self, owner: str) -> AsyncIterator[None]:
        """An add: many at once for one user, but never while the user's gate is held exclusively."""
        lock = self._exclusive.get(owner)
        while lock is not None and lock.locked():
            async with lock:
                pass
            lock = self._exclusive.get(owner)
        self._inside[owner] += 1
        try:
            yield
        finally:
            self._inside[owner] -= 1
            if not self._inside[owner]:
                del self._inside[owner]
                event = self._drained.pop(owner, None)
                if event is not None:
                    event.set()

    @contextlib.asynccontextmanager
    async def exclusive(self, owner: str) -> AsyncIterator[None]:
        """A forget or an update: alone among the user's exclusive writers, after the adds inside left."""
        lock = self._lock(owner)
        async with lock:
            while self._inside.get(owner):
                event = self._drained.setdefault(owner, asyncio.Event())
                await event.wait()
            yield
