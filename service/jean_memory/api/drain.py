"""While draining, every response says `Connection: close`, so keep-alive connections (a load
balancer's pooled ones included) end cleanly after their current response, before the listener
closes; new requests go to the replicas that are still ready."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class DrainMiddleware:
    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        container = getattr(self._state, "container", None)
        if scope["type"] != "http" or not getattr(container, "draining", False):
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)
