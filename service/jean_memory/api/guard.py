"""What a request may make the service hold before a handler runs, bounded in one plain ASGI middleware.

- **The key first.** With `JM_API_KEYS` set, a `/v1` request without a valid bearer key is answered
  401 naming the field `authorization` before any of its body is read (constant-time comparison, as
  bytes, against every key). `/healthz`, `/readyz`, `/metrics` and the rest outside `/v1` stay open.
- **Each tenant within its limits.** With two or more tenants, a request past its tenant's rate or
  share of the admission slots is answered 429 naming `tenant`, before its body is read
  (`api/fairness.py`); an admitted one holds its tenant's slot until its response is sent.
- **One `Authorization` header.** It is a singleton field (RFC 9110), and proxies and frameworks
  disagree on which of two counts (this guard would read the last, FastAPI's HTTPBearer, which the
  admin routes use, the first): a request with several is refused with 401 on every route.
- **Bodies are counted while they stream in.** A declared `Content-Length` over the route's limit is
  refused unread; a chunked body is cut with 413 once it passes the limit, so at most the limit (and
  one network read) is ever read. The batch add's limit is `Settings.body_limit`; every other
  route's is `Settings.item_body_limit` (one item, however escaped).
- **All bodies share one budget** (`Settings.body_buffer_limit`): twenty clients streaming a body each
  cannot hold twenty limits' worth of RAM; past the budget a body gets 503 with Retry-After.
- **Stalled and trickling bodies are cut** with 408 by the connection (`jean_memory.connections`),
  which sees every byte arrive at no cost per request; a per-read `asyncio.timeout` here cost most
  of the guard's time per small add (docs/performance.md, "Measurements behind design choices").

A refusal has the shape of every other error (`{"detail", "errors": [{"field": "body", ...}]}`) and
says `Connection: close` when the client may still be sending. The guard reads a body whole before it
calls the application (which would read it whole anyway, before any handler runs), so a refused body
never reaches it. The request head (request line, headers, their count, the URL) is bounded earlier,
by the connection protocol (`jean_memory.connections`): until it is complete no application runs.

A plain ASGI middleware, as `telemetry/asgi.py` is: a Starlette `BaseHTTPMiddleware` costs several
times as much per request. Bodiless requests (GET, DELETE) pass with one scan of the headers; what the
guard adds to a small add is in docs/performance.md ("Measurements behind design choices").
"""

from __future__ import annotations

import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jean_memory import jsonutil
from jean_memory.api.fairness import FIELD as TENANT
from jean_memory.api.fairness import TenantFairness, operation
from jean_memory.config import Settings
from jean_memory.connections import BODY_TIMED_OUT
from jean_memory.telemetry.metrics import TenantMetrics

BATCH_PATH = "/v1/memories/batch"
#: The MCP endpoint (`jean_memory/mcp`): the same keys as `/v1`, and the batch's body limit (a call may add many).
MCP_PATH = "/mcp"
AUTHORIZATION = "authorization"
UNAUTHORISED = "a valid 'Authorization: Bearer <key>' header is required"
DUPLICATE = "send one 'Authorization' header, not several"


def refusal(
    status: int, field: str | None, message: str, *, close: bool, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> tuple[Message, Message]:
    """The two ASGI messages of an error response in the service's error shape."""
    body = jsonutil.dumps(
        {"detail": f"{field}: {message}" if field else message, "errors": [{"field": field, "message": message}]}
    )
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]
    if close:
        head.append((b"connection", b"close"))
    return (
        {"type": "http.response.start", "status": status, "headers": head},
        {"type": "http.response.body", "body": body, "more_body": False},
    )


class BodyBudget:
    """Bytes of request bodies held by requests in flight, against one limit for all of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, n: int) -> bool:
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def give(self, n: int) -> None:
        self.used -= n


class RequestGuard:
    def __init__(self, app: ASGIApp, settings: Settings, tenants: TenantMetrics) -> None:
        self.app = app
        self.fairness = TenantFairness(settings, tenants)
        self._keys = [(key.encode(), tenant) for key, tenant in sorted(settings.tenant_keys.items())]
        self._www = ((b"www-authenticate", b"Bearer"),)
        self._batch_limit = settings.body_limit
        self._limit = settings.item_body_limit
        self._retry_after = str(settings.retry_after_s).encode()
        self.budget = BodyBudget(settings.body_buffer_limit)

    def _tenant(self, value: bytes | None) -> str | None:
        """The tenant of the bearer key, or None when no key matches."""
        scheme, _, token = (value or b"").partition(b" ")
        if scheme.lower() != b"bearer":
            token = b""
        token = token.strip()
        found: str | None = None
        for key, tenant in self._keys:  # every key, every time: the time taken says nothing about which matched
            if secrets.compare_digest(token, key):
                found = tenant
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorization = length = None
        chunked = duplicate = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                duplicate = authorization is not None
                authorization = value
            elif name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        has_body = chunked or (length is not None and length != b"0")
        path: str = scope["path"]
        if duplicate:
            for message in refusal(401, AUTHORIZATION, DUPLICATE, close=has_body, headers=self._www):
                await send(message)
            return
        if self._keys and (path.startswith("/v1/") or path == "/v1" or path == MCP_PATH):
            tenant = self._tenant(authorization)
            if tenant is None:
                for message in refusal(401, AUTHORIZATION, UNAUTHORISED, close=has_body, headers=self._www):
                    await send(message)
                return
            scope.setdefault("state", {})["tenant"] = tenant  # the routes scope user ids by it
            if self.fairness.enabled:
                await self._fairly(scope, receive, send, tenant, (has_body, length, chunked))
                return
        await self._bounded(scope, receive, send, has_body, length, chunked)

    async def _fairly(
        self, scope: Scope, receive: Receive, send: Send, tenant: str, body: tuple[bool, bytes | None, bool]
    ) -> None:
        """Hold one of the tenant's slots for the whole request (a streamed export included), or refuse it
        before its body is read (`api/fairness.py`)."""
        op = operation(scope["method"], scope["path"])
        refused = self.fairness.admit(tenant, op)
        if refused is not None:
            retry = ((b"retry-after", str(refused.retry_after_s).encode()),)
            for message in refusal(429, TENANT, refused.message, close=body[0], headers=retry):
                await send(message)
            return
        try:
            await self._bounded(scope, receive, send, *body)
        finally:
            self.fairness.release(tenant, op)

    async def _bounded(
        self, scope: Scope, receive: Receive, send: Send, has_body: bool, length: bytes | None, chunked: bool
    ) -> None:
        """The body within the route's limit and the shared budget, then the application."""
        if not has_body:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self._batch_limit if path in (BATCH_PATH, MCP_PATH) else self._limit
        if length is not None and not chunked and (not length.isdigit() or int(length) > limit):
            for message in refusal(413, "body", _too_large(limit, path), close=True):
                await send(message)
            return
        await self._guarded(scope, receive, send, limit)

    async def _refuse(self, send: Send, status: int, message: str, retry: bool = False) -> None:
        extra = ((b"retry-after", self._retry_after),) if retry else ()
        for m in refusal(status, "body", message, close=True, headers=extra):
            await send(m)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Read the whole body here, then hand it to the application.

        The application never holds a partial body: a refused one is dropped with this frame. (Refusing
        from inside the application's read left its chunks in a cycle of exceptions and frames, which
        only the cyclic garbage collector frees, so refused bodies at once grew RSS by their full size.)
        """
        chunks: list[bytes] = []
        received = 0
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    # The client is gone, or the connection cut it for sending too slowly. Nobody reads
                    # this answer; it is sent so the request's telemetry records a 4xx, not a 5xx.
                    if scope.get(BODY_TIMED_OUT):
                        await self._refuse(send, 408, scope[BODY_TIMED_OUT])
                    else:
                        await self._refuse(send, 400, "the connection closed before the whole body arrived")
                    return
                chunk: bytes = message.get("body", b"")
                if chunk:
                    if received + len(chunk) > limit:
                        await self._refuse(send, 413, _too_large(limit, scope["path"]))
                        return
                    if not self.budget.take(len(chunk)):
                        busy = "the service is receiving too many request bodies at once"
                        await self._refuse(send, 503, busy, retry=True)
                        return
                    received += len(chunk)
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            await self.app(scope, _replay(chunks, receive), send)
        finally:
            self.budget.give(received)


def _replay(chunks: list[bytes], receive: Receive) -> Receive:
    """A `receive` that gives the body's chunks as they arrived (never joined: a batch's body may be tens of
    megabytes, and one join held the event loop for as long as it took), then whatever the server says
    next (a disconnect)."""
    chunks.reverse()
    if not chunks:
        chunks.append(b"")

    async def replay() -> Message:
        if chunks:
            return {"type": "http.request", "body": chunks.pop(), "more_body": bool(chunks)}
        return await receive()

    return replay


def _too_large(limit: int, path: str) -> str:
    hint = "; send fewer items per batch" if path == BATCH_PATH else ""
    return f"larger than {limit} bytes{hint}"
