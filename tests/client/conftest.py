"""Both clients under one test body: `make_client` is parametrized over the blocking client and the
asyncio one, the latter driven from the test's thread through an event loop of its own."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from jean_memory_client import AsyncJeanMemory, JeanMemory

T = TypeVar("T")
MakeClient = Callable[..., Any]


class Blocking:
    """An `AsyncJeanMemory` with blocking methods: each call runs on the client's event loop (in a thread
    of its own) and its result or exception comes back here; async iterators come back as lists."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="async-client", daemon=True)
        self._thread.start()
        self.client = self.run(self._make(*args, **kwargs))

    @staticmethod
    async def _make(*args: Any, **kwargs: Any) -> AsyncJeanMemory:
        return AsyncJeanMemory(*args, **kwargs)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if inspect.isasyncgenfunction(attr):
            return lambda *a, **k: self.run(_collect(attr(*a, **k)))
        if inspect.iscoroutinefunction(attr):
            return lambda *a, **k: self.run(attr(*a, **k))
        return attr

    def close(self) -> None:
        self.run(self.client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


async def _collect(items: AsyncIterator[T]) -> list[T]:
    return [item async for item in items]


@pytest.fixture(params=["sync", "async"])
def make_client(request: pytest.FixtureRequest) -> Iterator[MakeClient]:
    """`make_client(url, **options)`: a `JeanMemory`, or an `AsyncJeanMemory` behind `Blocking`."""
    made: list[Any] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        client = JeanMemory(*args, **kwargs) if request.param == "sync" else Blocking(*args, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
