"""RED metrics for every HTTP request, as a plain ASGI middleware.

A Starlette `BaseHTTPMiddleware` costs about six times as much per request; this one only wraps
`send` to catch the status and reads the matched route template after the app has run.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jean_memory.telemetry.metrics import Metrics

_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


def route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self._hist = metrics.http_duration
        self._active = metrics.http_active
        self._children: dict[tuple[str, str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self._active.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._active.dec()
            key = (scope["method"], route_template(scope), _CLASSES.get(status // 100, "5xx"))
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = self._hist.labels(*key)
            child.observe(time.perf_counter() - start)
