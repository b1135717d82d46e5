"""Each route of the service as a `Call`: the request to send and how to read its answer. No I/O here,
so the sync and the async client share every route and differ only in how they send."""

from __future__ import annotations

import json as jsonlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from jean_memory_client._errors import TransportError, error_from
from jean_memory_client._models import (
    BatchCreated,
    Created,
    ExportedMemory,
    History,
    JsonObject,
    Memory,
    NewMemory,
    Page,
    Readiness,
    SearchResults,
    new_id,
)

T = TypeVar("T")

#: A proxy's answers when it lost the service's: the request may have been served (502 Bad Gateway,
#: 504 Gateway Timeout, as HAProxy gives them in cluster mode).
GATEWAY_LOST = (502, 504)

#: An item of a batch: a `NewMemory`, an exported memory (added back as it was), a mapping in the
#: service's item shape, or just the content.
Item = NewMemory | ExportedMemory | Mapping[str, Any] | str


class _Unset:
    """Marks an update field left out (distinct from None, which for `expires_at` removes the expiry)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(slots=True)
class Call(Generic[T]):
    """One request and the reading of its successful answer.

    `missing_ok`: a 404 after an attempt whose answer was lost means that attempt did the work (a delete);
    `results`: error statuses that are answers here (`/readyz`'s 503), read rather than raised;
    `retried`: False for the probes, which report the service's state now rather than wait for a better one.
    """

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: dict[str, Any] | None = None
    json: Any = None
    missing_ok: bool = False
    results: tuple[int, ...] = ()
    retried: bool = True


@dataclass(slots=True)
class Attempts:
    """What earlier attempts of one call left: whether one may have been applied although it failed."""

    maybe_applied: bool = False


def check(call: Call[T], response: httpx.Response, attempts: Attempts) -> T:
    """The call's result, or the exception for the answer."""
    if response.status_code < 300 or response.status_code in call.results:
        return call.read(response)
    if response.status_code == 404 and call.missing_ok and attempts.maybe_applied:
        return call.read(response)
    if response.status_code in GATEWAY_LOST:
        attempts.maybe_applied = True
    raise error_from(response)


def transport_error(exc: httpx.HTTPError, attempts: Attempts) -> TransportError | None:
    """httpx's failure as ours (None: not a transport failure, e.g. an invalid URL: raised as it is)."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return TransportError(f"could not connect: {exc!r}", maybe_applied=False)
    if isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError):
        attempts.maybe_applied = True
        return TransportError(f"the answer was lost: {exc!r}", maybe_applied=True)
    return None


def _merge(body: JsonObject, extra: Mapping[str, Any] | None) -> JsonObject:
    """Fields this client does not name yet (scopes, new filter forms) go to the service as they are."""
    if extra:
        body.update(extra)
    return body


def _none(_: httpx.Response) -> None:
    return None


def item_json(item: Item) -> JsonObject:
    """The item as the service reads it, always with an id: chosen here once, so retries repeat it."""
    if isinstance(item, str):
        return {"content": item, "id": new_id()}
    if isinstance(item, NewMemory):
        return item.to_json()
    if isinstance(item, ExportedMemory):
        return item.as_item().to_json()
    body = dict(item)
    if body.get("id") is None:
        body["id"] = new_id()
    return body


def add(
    user_id: str,
    content: str,
    *,
    metadata: JsonObject | None,
    salience: float | None,
    id: str | None,
    created_at: float | None,
    expires_at: float | None,
    agent_id: str | None = None,
    run_id: str | None = None,
    dedupe: bool,
    extra: Mapping[str, Any] | None,
) -> Call[Created]:
    body = NewMemory(content, metadata, salience, id, created_at, expires_at, agent_id, run_id).to_json()
    body["user_id"] = user_id
    if dedupe:
        body["dedupe"] = True
    return Call("POST", "/v1/memories", lambda r: Created.from_json(r.json()), json=_merge(body, extra))


def add_batch(
    user_id: str, items: Iterable[Item], *, dedupe: bool, extra: Mapping[str, Any] | None
) -> Call[BatchCreated]:
    body: JsonObject = {"user_id": user_id, "items": [item_json(i) for i in items]}
    if dedupe:
        body["dedupe"] = True
    return Call("POST", "/v1/memories/batch", lambda r: BatchCreated.from_json(r.json()), json=_merge(body, extra))


def _query(user_id: str, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    return _merge({"user_id": user_id}, extra)


def _scoped(body: dict[str, Any], agent_id: str | None, run_id: str | None) -> dict[str, Any]:
    """`body` restricted to a scope: each part sent only when given (none: every scope of the user)."""
    if agent_id is not None:
        body["agent_id"] = agent_id
    if run_id is not None:
        body["run_id"] = run_id
    return body


def get(user_id: str, memory_id: str, extra: Mapping[str, Any] | None) -> Call[Memory]:
    return Call("GET", f"/v1/memories/{memory_id}", lambda r: Memory.from_json(r.json()), _query(user_id, extra))


def update(
    user_id: str,
    memory_id: str,
    *,
    content: Any,
    metadata: Any,
    salience: Any,
    expires_at: Any,
    extra: Mapping[str, Any] | None,
) -> Call[Memory]:
    fields = {"content": content, "metadata": metadata, "salience": salience, "expires_at": expires_at}
    body = _merge({k: v for k, v in fields.items() if v is not UNSET}, extra)
    return Call("PATCH", f"/v1/memories/{memory_id}", lambda r: Memory.from_json(r.json()), {"user_id": user_id}, body)


def history(user_id: str, memory_id: str, extra: Mapping[str, Any] | None) -> Call[History]:
    path = f"/v1/memories/{memory_id}/history"
    return Call("GET", path, lambda r: History.from_json(r.json()), _query(user_id, extra))


def delete(user_id: str, memory_id: str, extra: Mapping[str, Any] | None) -> Call[None]:
    return Call("DELETE", f"/v1/memories/{memory_id}", _none, _query(user_id, extra), missing_ok=True)


def forget(
    user_id: str, extra: Mapping[str, Any] | None, agent_id: str | None = None, run_id: str | None = None
) -> Call[int]:
    params = _scoped(_query(user_id, extra), agent_id, run_id)
    return Call("DELETE", "/v1/memories", lambda r: int(r.json()["forgotten"]), params)


def delete_matching(
    user_id: str,
    filters: Mapping[str, Any],
    extra: Mapping[str, Any] | None,
    agent_id: str | None = None,
    run_id: str | None = None,
) -> Call[int]:
    if not filters:
        raise ValueError("filters: name at least one condition (forget() deletes every memory, or a scope's)")
    params = _scoped(_filtered(user_id, filters, extra), agent_id, run_id)
    return Call("DELETE", "/v1/memories", lambda r: int(r.json()["forgotten"]), params)


def _filtered(user_id: str, filters: Mapping[str, Any] | None, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """The query of a list, an export or a bulk delete: `filters` as the JSON text the service reads."""
    params = _query(user_id, extra)
    if filters is not None:
        params["filters"] = jsonlib.dumps(dict(filters), separators=(",", ":"), allow_nan=False)
    return params


def list_page(
    user_id: str,
    limit: int,
    cursor: str | None,
    extra: Mapping[str, Any] | None,
    filters: Mapping[str, Any] | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
) -> Call[Page]:
    params = _scoped(_filtered(user_id, filters, extra), agent_id, run_id)
    params["limit"] = limit
    if cursor is not None:
        params["cursor"] = cursor
    return Call("GET", "/v1/memories", lambda r: Page.from_json(r.json()), params)


def search(
    user_id: str,
    query: str,
    k: int,
    filters: Mapping[str, Any] | None,
    ranking: Mapping[str, Any],
    extra: Mapping[str, Any] | None,
    agent_id: str | None = None,
    run_id: str | None = None,
) -> Call[SearchResults]:
    """`ranking`: the search's ranking options (`mode`, `explain`, `min_score`, the boosts), each sent only
    when given, so the service's defaults hold otherwise."""
    body: JsonObject = _scoped({"user_id": user_id, "query": query, "k": k}, agent_id, run_id)
    if filters is not None:
        body["filters"] = dict(filters)
    body.update({name: value for name, value in ranking.items() if value is not None})
    return Call("POST", "/v1/search", lambda r: SearchResults.from_json(r.json()), json=_merge(body, extra))


def export(
    user_id: str,
    extra: Mapping[str, Any] | None,
    filters: Mapping[str, Any] | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
) -> Call[None]:
    """Opened as a stream by the clients; `read` is not used."""
    return Call("GET", "/v1/memories/export", _none, _scoped(_filtered(user_id, filters, extra), agent_id, run_id))


def health() -> Call[bool]:
    return Call("GET", "/healthz", lambda r: r.json().get("status") == "ok", retried=False)


def _readiness(response: httpx.Response) -> Readiness:
    body = response.json()
    return Readiness(body.get("status") == "ready", dict(body.get("checks", {})))


def ready() -> Call[Readiness]:
    """`/readyz` answers 503 while not ready: that answer is a result here, not an error."""
    return Call("GET", "/readyz", _readiness, results=(503,), retried=False)


def chunks(items: Iterable[Item], size: int) -> Iterable[list[Item]]:
    """`items` in lists of `size`, read lazily (an export can be added back as it streams)."""
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def export_line(line: str) -> ExportedMemory:
    return ExportedMemory.from_json(jsonlib.loads(line))


async def achunks(items: Iterable[Item] | AsyncIterable[Item], size: int) -> AsyncIterator[list[Item]]:
    """`chunks` for an async source too (another service's export, streamed into this one)."""
    if not isinstance(items, AsyncIterable):
        for whole in chunks(items, size):
            yield whole
        return
    chunk: list[Item] = []
    async for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
