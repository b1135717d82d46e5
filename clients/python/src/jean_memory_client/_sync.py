"""The blocking client."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from jean_memory_client import _calls as calls
from jean_memory_client import _config
from jean_memory_client._calls import UNSET, Attempts, Call, Item
from jean_memory_client._errors import ExportInterrupted, JeanMemoryError, error_from
from jean_memory_client._models import (
    BatchCreated,
    Created,
    ExportedMemory,
    History,
    JsonObject,
    Memory,
    Mode,
    Page,
    Readiness,
    SearchResults,
)
from jean_memory_client._retry import RetryPolicy

T = TypeVar("T")
Extra = Mapping[str, Any] | None


class JeanMemory:
    """A client of one Jean Memory service, safe to share between threads.

        with JeanMemory("http://127.0.0.1:8766", api_key="...") as memory:
            memory.add("alice", "Alice is vegetarian", metadata={"topic": "food"})
            for hit in memory.search("alice", "what does Alice eat?"):
                print(hit.score, hit.content)

    Every call is retried by `retry` on 429/503 (after Retry-After), 502/504 and lost connections; adds
    carry ids chosen here before the first try, so a retry never stores a memory twice. `extra` on any
    call sends fields this version does not name (e.g. scopes) as they are; the service refuses a body
    field it does not know with a 422 naming it.

    `base_url` defaults to `JEAN_MEMORY_URL`, then http://127.0.0.1:8766; `api_key` to
    `JEAN_MEMORY_API_KEY`. `http_client` is an httpx client of your own (its base URL, transport,
    limits, proxies); the client adds its headers to it and leaves closing it to you.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._owned = http_client is None
        self._http = http_client or httpx.Client(base_url=_config.base_url(base_url), timeout=timeout)
        self._http.headers.update(_config.headers(api_key))

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # -- sending ---------------------------------------------------------------------------------

    def _send(self, call: Call[T]) -> T:
        """The first try runs bare; only a failure worth retrying brings in tenacity, which replays that
        failure as its own first attempt (so attempts, waits and `on_retry` count it) and goes on. The
        retry machinery costs nothing on the calls that need none."""
        attempts = Attempts()
        try:
            return calls.check(call, self._request(call, attempts), attempts)
        except JeanMemoryError as exc:
            if not (call.retried and self.retry.should_retry(exc)):
                raise
            replay = [exc]

        def again() -> T:
            if replay:
                raise replay.pop()
            return calls.check(call, self._request(call, attempts), attempts)

        return self.retry.retrying()(again)

    def _request(self, call: Call[Any], attempts: Attempts, stream: bool = False) -> httpx.Response:
        try:
            request = self._http.build_request(call.method, call.path, params=call.params, json=call.json)
            return self._http.send(request, stream=stream)
        except httpx.HTTPError as exc:
            mapped = calls.transport_error(exc, attempts)
            if mapped is None:
                raise
            raise mapped from exc

    # -- writes ----------------------------------------------------------------------------------

    def add(
        self,
        user_id: str,
        content: str,
        *,
        metadata: JsonObject | None = None,
        salience: float | None = None,
        id: str | None = None,
        created_at: float | None = None,
        expires_at: float | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        dedupe: bool = False,
        extra: Extra = None,
    ) -> Created:
        """Add one memory (durable when this returns), in the scope of `agent_id` and/or `run_id` when given.
        Without `id`, one is chosen here."""
        return self._send(
            calls.add(
                user_id,
                content,
                metadata=metadata,
                salience=salience,
                id=id,
                created_at=created_at,
                expires_at=expires_at,
                agent_id=agent_id,
                run_id=run_id,
                dedupe=dedupe,
                extra=extra,
            )
        )

    def add_batch(
        self, user_id: str, items: Iterable[Item], *, dedupe: bool = False, extra: Extra = None
    ) -> BatchCreated:
        """Add up to the service's batch limit (JM_MAX_BATCH_ITEMS) in one durable commit."""
        return self._send(calls.add_batch(user_id, items, dedupe=dedupe, extra=extra))

    def add_many(
        self, user_id: str, items: Iterable[Item], *, batch_size: int = 500, dedupe: bool = False, extra: Extra = None
    ) -> BatchCreated:
        """Add any number of memories, `batch_size` per request, reading `items` lazily (an export can
        be added back while it streams). Each batch is retried as a whole with the same ids, so an
        interrupted import run again stores nothing twice."""
        ids: list[str] = []
        deduplicated: list[bool] = []
        for chunk in calls.chunks(items, batch_size):
            done = self.add_batch(user_id, chunk, dedupe=dedupe, extra=extra)
            ids.extend(done.ids)
            deduplicated.extend(done.deduplicated)
        return BatchCreated(ids, deduplicated)

    def update(
        self,
        user_id: str,
        memory_id: str,
        *,
        content: str = UNSET,
        metadata: JsonObject = UNSET,
        salience: float = UNSET,
        expires_at: float | None = UNSET,
        extra: Extra = None,
    ) -> Memory:
        """The memory's next version; fields left out are unchanged, `expires_at=None` removes the expiry."""
        return self._send(
            calls.update(
                user_id,
                memory_id,
                content=content,
                metadata=metadata,
                salience=salience,
                expires_at=expires_at,
                extra=extra,
            )
        )

    def delete(self, user_id: str, memory_id: str, *, extra: Extra = None) -> None:
        """Delete a memory; `NotFound` if the user has none with this id."""
        self._send(calls.delete(user_id, memory_id, extra))

    def forget(
        self, user_id: str, *, agent_id: str | None = None, run_id: str | None = None, extra: Extra = None
    ) -> int:
        """Forget the user (every memory and its history), or with `agent_id` and/or `run_id` only that scope's
        memories (each deleted; the rest stay); returns how many memories went."""
        return self._send(calls.forget(user_id, extra, agent_id, run_id))

    def delete_matching(
        self,
        user_id: str,
        filters: Mapping[str, Any],
        *,
        agent_id: str | None = None,
        run_id: str | None = None,
        extra: Extra = None,
    ) -> int:
        """Delete the user's memories (of the agent and/or run, when named) that `filters` selects (the
        service's filter grammar; at least one condition: `forget` deletes everything); returns how many were
        deleted. Durable when it returns; a retried call after a lost answer deletes nothing more and counts 0."""
        return self._send(calls.delete_matching(user_id, filters, extra, agent_id, run_id))

    # -- reads -----------------------------------------------------------------------------------

    def get(self, user_id: str, memory_id: str, *, extra: Extra = None) -> Memory:
        return self._send(calls.get(user_id, memory_id, extra))

    def history(self, user_id: str, memory_id: str, *, extra: Extra = None) -> History:
        return self._send(calls.history(user_id, memory_id, extra))

    def search(
        self,
        user_id: str,
        query: str,
        *,
        k: int = 10,
        filters: Mapping[str, Any] | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        mode: Mode | None = None,
        explain: bool | None = None,
        min_score: float | None = None,
        recency_boost: float | None = None,
        recency_half_life_s: float | None = None,
        salience_boost: float | None = None,
        extra: Extra = None,
    ) -> SearchResults:
        """The `k` memories that best match `query`; `filters` are sent to the service as they are. The
        ranking options are the service's (`mode`: `hybrid`, its default, `vector` or `lexical`; `explain`
        adds each leg's part to every hit); each is sent only when given. `agent_id` and/or `run_id` restrict
        it to that scope (default: every scope of the user)."""
        ranking = {
            "mode": mode,
            "explain": explain,
            "min_score": min_score,
            "recency_boost": recency_boost,
            "recency_half_life_s": recency_half_life_s,
            "salience_boost": salience_boost,
        }
        return self._send(calls.search(user_id, query, k, filters, ranking, extra, agent_id, run_id))

    def list(
        self,
        user_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        filters: Mapping[str, Any] | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        extra: Extra = None,
    ) -> Page:
        """One page, newest first; pass `page.next_cursor` as `cursor` for the next, with the same scope and
        `filters` (or use `iter_memories`). `agent_id`/`run_id`: only that scope's memories; `filters`: only
        the memories it selects (as `search`'s)."""
        return self._send(calls.list_page(user_id, limit, cursor, extra, filters, agent_id, run_id))

    def iter_memories(
        self,
        user_id: str,
        *,
        page_size: int = 200,
        filters: Mapping[str, Any] | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        extra: Extra = None,
    ) -> Iterator[Memory]:
        """Every memory of the user (of the scope, when named; with `filters`, those it selects), newest
        first, a page at a time (each page retried on its own)."""
        cursor: str | None = None
        while True:
            page = self.list(
                user_id,
                limit=page_size,
                cursor=cursor,
                filters=filters,
                agent_id=agent_id,
                run_id=run_id,
                extra=extra,
            )
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def export(
        self,
        user_id: str,
        *,
        filters: Mapping[str, Any] | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        extra: Extra = None,
    ) -> Iterator[ExportedMemory]:
        """Every memory of the user (of the agent and/or run, when named; with `filters`, those of them it
        selects), oldest first, as the service streams them (NDJSON). Opening the stream is retried; a stream
        that breaks later raises `ExportInterrupted`. Close the iterator (or exhaust it) to release the
        connection."""
        call = calls.export(user_id, extra, filters, agent_id, run_id)
        response = self._open(call)
        delivered = 0
        try:
            for line in response.iter_lines():
                if line:
                    yield calls.export_line(line)
                    delivered += 1
        except httpx.HTTPError as exc:
            message = f"export stream broke after {delivered} memories: {exc!r}"
            raise ExportInterrupted(message, delivered=delivered) from exc
        finally:
            response.close()

    def _open(self, call: Call[Any]) -> httpx.Response:
        attempts = Attempts()
        for attempt in self.retry.retrying():
            with attempt:
                response = self._request(call, attempts, stream=True)
                if response.status_code >= 300:
                    response.read()
                    response.close()
                    raise error_from(response)
                return response
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    # -- the service -----------------------------------------------------------------------------

    def health(self) -> bool:
        """`/healthz`: the process answers."""
        return self._send(calls.health())

    def ready(self) -> Readiness:
        """`/readyz`: ready to serve (a not-ready answer is a result, not an error)."""
        return self._send(calls.ready())
