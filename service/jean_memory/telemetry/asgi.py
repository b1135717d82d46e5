"""Per-request telemetry as one plain ASGI middleware: the server span, RED metrics, the window.

A Starlette `BaseHTTPMiddleware` costs about six times as much per request, and OpenTelemetry's
stock ASGI instrumentation adds send/receive child spans and semantic-convention metrics through
a second meter; this does one span, one histogram observation (with the trace id as exemplar when
the span is sampled) and one window entry, and reads the route template after routing.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jean_memory.telemetry.core import Telemetry
from jean_memory.telemetry.loopholds import REQUEST_SCOPE

_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
#: The method is client-controlled: anything else is `_OTHER` (as the semantic conventions say), so
#: the label stays bounded.
_METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}
_PROPAGATOR = TraceContextTextMapPropagator()
_TRACE_HEADERS = {b"traceparent": "traceparent", b"tracestate": "tracestate"}
#: Where the request's span is kept in its scope: the handler of unexpected errors runs outside this
#: middleware (in Starlette's ServerErrorMiddleware) and logs under it from there.
SPAN_KEY = "jean_memory.span"


def route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def _parent(scope: Scope) -> otel_context.Context | None:
    carrier = {_TRACE_HEADERS[k]: v.decode("latin-1") for k, v in scope["headers"] if k in _TRACE_HEADERS}
    return _PROPAGATOR.extract(carrier) if carrier else None


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self._tracer = telemetry.tracer
        self._roots = telemetry.roots
        self._hist = telemetry.metrics.http.duration
        self._active = telemetry.metrics.http.active
        self._window = telemetry.window
        self._children: dict[tuple[str, str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        method = scope["method"] if scope["method"] in _METHODS else "_OTHER"

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self._active.inc()
        parent = _parent(scope)
        if parent is None and not self._roots.sampled():
            span = self._roots.unsampled_span()  # the common case: no SDK work at all
        else:
            span = self._tracer.start_span(method, context=parent, kind=SpanKind.SERVER)
        token = otel_context.attach(trace.set_span_in_context(span))
        scope[SPAN_KEY] = span
        REQUEST_SCOPE.set(scope)  # this request's own context: its callbacks are timed by route
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            otel_context.detach(token)
            self._active.dec()
            route = route_template(scope)
            elapsed = time.perf_counter() - start
            exemplar = None
            if span.is_recording():
                span.update_name(f"{method} {route}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                ctx = span.get_span_context()
                if ctx.trace_flags.sampled:
                    exemplar = {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}
            span.end()
            key = (method, route, _CLASSES.get(status // 100, "5xx"))
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = self._hist.labels(*key)
            child.observe(elapsed, exemplar)
            self._window.record_request(status >= 500)
