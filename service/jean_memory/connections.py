"""HTTP connections, bounded before the application sees a request: uvicorn's httptools protocol with
limits on the request head, a deadline for it, and a cap on open connections.

uvicorn's httptools protocol keeps the URL and every header in memory as they arrive and enforces no
size on either (httptools joins a header's pieces without a limit; `h11_max_incomplete_event_size`
applies to the h11 protocol only), starts no timer on a fresh connection, and its
`limit_concurrency` counts idle keep-alive connections, then answers every request on every
connection 503 in plain text. So this subclass:

- counts the bytes of each request head as they arrive: past `JM_MAX_HEADER_BYTES` the connection is
  answered 431 (414 when the URL alone passes `JM_MAX_URL_BYTES`) and closed, as it is past
  `JM_MAX_HEADER_COUNT` fields: at most one network read beyond the limit is ever held;
- gives each head `JM_HEADER_TIMEOUT_S` from the connection's opening or the head's first byte, so an
  idle or Slowloris connection (a header byte a second) is closed; an idle keep-alive connection is
  closed after uvicorn's `timeout_keep_alive` (`JM_KEEP_ALIVE_TIMEOUT_S`). A head that arrives in one
  read (nearly all) arms no timer;
- cuts a body that stalls for `JM_BODY_TIMEOUT_S`, or arrives slower than `JM_BODY_MIN_RATE_BYTES`
  per second once that long has passed, with 408 (a Slowloris body). The connection sees each byte
  arrive, so a request whose body came with its head (nearly all) arms no timer at all; a deadline
  per read in the ASGI middleware cost most of the guard's time per small add (docs/performance.md);
- answers a connection past `JM_MAX_CONNECTIONS` with 503 and Retry-After and closes it at once,
  leaving the connections already open alone.

Refusals use the service's error shape. A body's size, and the key, are checked by `api/guard.py`.

    config = uvicorn.Config(app, http=protocol_for(settings, metrics.connections), ...)
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from jean_memory import jsonutil
from jean_memory.config import Settings
from jean_memory.telemetry.metrics import ConnectionMetrics

log = logging.getLogger(__name__)

#: Set in a request's scope when its body was cut for arriving too slowly: the guard then records 408.
BODY_TIMED_OUT = "jean_memory.body_timed_out"


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_head_bytes: int
    max_url_bytes: int
    max_header_count: int
    head_timeout_s: float
    body_timeout_s: float
    body_min_rate: float
    max_connections: int
    retry_after_s: int

    @classmethod
    def from_settings(cls, s: Settings) -> ConnectionLimits:
        return cls(
            s.max_header_bytes, s.max_url_bytes, s.max_header_count, s.header_timeout_s, s.body_timeout_s,
            float(s.body_min_rate_bytes), s.max_connections, s.retry_after_s,
        )  # fmt: skip


class _HeadRefused(Exception):
    """The request head broke a limit; raised inside the parser, answered by `send_400_response`."""

    def __init__(self, status: int, field: str, message: str, reason: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message, self.reason = status, field, message, reason


_REASONS = {408: b"Request Timeout", 414: b"URI Too Long", 431: b"Request Header Fields Too Large",
            503: b"Service Unavailable"}  # fmt: skip


def raw_response(status: int, field: str | None, message: str, headers: tuple[bytes, ...] = ()) -> bytes:
    """A whole `Connection: close` response in the service's error shape, for answers below ASGI."""
    body = jsonutil.dumps(
        {"detail": f"{field}: {message}" if field else message, "errors": [{"field": field, "message": message}]}
    )
    lines = [
        b"HTTP/1.1 %d %s" % (status, _REASONS[status]),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
        *headers,
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head, a head deadline and a connection cap."""

    limits: ConnectionLimits  # set by `protocol_for`
    metrics: ConnectionMetrics | None = None

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._refused = False  # answered at accept: uvicorn never saw this connection
        self._reading_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._header_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refusal: _HeadRefused | None = None
        self._in_body = False  # between the end of a head and the end of its body
        self._body_start = self._body_last = 0.0
        self._body_bytes = 0
        self._body_timer: asyncio.TimerHandle | None = None

    # ---- connection cap --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        limits = self.limits
        if len(self.connections) >= limits.max_connections:
            self._refused = True
            message = f"too many open connections (limit {limits.max_connections})"
            retry = b"retry-after: %d" % limits.retry_after_s
            transport.write(raw_response(503, None, message, (retry,)))
            transport.close()
            self._count("connections")
            return
        super().connection_made(transport)
        if self.metrics is not None:
            self.metrics.open.inc()
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._cancel_head_timer()
        self._cancel_body_timer()
        if self.metrics is not None:
            self.metrics.open.dec()
        super().connection_lost(exc)

    # ---- the head: size, count, deadline ---------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._reading_head:
            if self._head_bytes > self.limits.max_head_bytes:
                if len(getattr(self, "url", b"")) > self.limits.max_url_bytes:
                    self._refuse(_HeadRefused(414, "url", f"longer than {self.limits.max_url_bytes} bytes", "url"))
                else:
                    too_large = f"larger than {self.limits.max_head_bytes} bytes"
                    self._refuse(_HeadRefused(431, "headers", too_large, "head_size"))
            elif self._head_timer is None and self._head_bytes:  # part of a head came: it now has a deadline
                self._arm_head_timer()
        elif self._in_body and self._body_timer is None:  # part of a body came: it now has a deadline
            self._body_timer = self.loop.call_at(self._body_deadline(), self._body_check)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        if len(self.url) + len(url) > self.limits.max_url_bytes:
            self._refusal = _HeadRefused(414, "url", f"longer than {self.limits.max_url_bytes} bytes", "url")
            raise self._refusal
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # A head that arrived in one read is measured exactly here; `data_received` bounds one still arriving.
        self._header_count += 1
        self._header_bytes += len(name) + len(value) + 4
        if self._header_count > self.limits.max_header_count:
            many = f"more than {self.limits.max_header_count} fields"
            self._refusal = _HeadRefused(431, "headers", many, "head_fields")
            raise self._refusal
        if self._header_bytes + len(self.url) > self.limits.max_head_bytes:
            too_large = f"larger than {self.limits.max_head_bytes} bytes"
            self._refusal = _HeadRefused(431, "headers", too_large, "head_size")
            raise self._refusal
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        self._cancel_head_timer()
        super().on_headers_complete()
        self._in_body = True
        self._body_start = self._body_last = self.loop.time()
        self._body_bytes = 0

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        self._body_last = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_body = False
        self._cancel_body_timer()
        self._reading_head = True  # the next request's head; its timer starts with its first byte

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error; a limit raised inside the parser is answered here instead."""
        refusal, self._refusal = self._refusal, None
        if refusal is None:
            super().send_400_response(msg)
            return
        self._refuse(refusal)

    def _refuse(self, refusal: _HeadRefused) -> None:
        self._cancel_head_timer()
        if not self.transport.is_closing():
            self.transport.write(raw_response(refusal.status, refusal.field, refusal.message))
            self.transport.close()
            self._count(refusal.reason)

    def _count(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.refused.labels(reason).inc()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.head_timeout_s, self._head_timeout)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _body_deadline(self) -> float:
        limits = self.limits
        stalled = self._body_last + limits.body_timeout_s
        return min(stalled, self._body_start + limits.body_timeout_s + self._body_bytes / limits.body_min_rate)

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_check(self) -> None:
        self._body_timer = None
        if not self._in_body or self.transport.is_closing():
            return
        now = self.loop.time()
        if self.flow.read_paused:  # our own back-pressure (the application has not read yet), not the client
            self._body_last = now
        deadline = self._body_deadline()
        if now < deadline:
            self._body_timer = self.loop.call_at(deadline, self._body_check)
            return
        limits = self.limits
        message = (
            f"not received in time (a pause of {limits.body_timeout_s:g} s, or slower than "
            f"{limits.body_min_rate:g} bytes/s)"
        )
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            cycle.scope[BODY_TIMED_OUT] = message  # type: ignore[literal-required]
            self.transport.write(raw_response(408, "body", message))
        self.transport.close()
        self._count("body_timeout")

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._reading_head:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a response is being made; the next head's first byte arms a new deadline
        if self._head_bytes:
            message = f"not received within {self.limits.head_timeout_s:g} s"
            self.transport.write(raw_response(408, "headers", message))
        self.transport.close()
        self._count("head_timeout")


def protocol_for(settings: Settings, metrics: ConnectionMetrics | None = None) -> type[BoundedHttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, carrying these settings' limits."""
    attributes = {"limits": ConnectionLimits.from_settings(settings), "metrics": metrics}
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), attributes)
