"""create_app(settings): the FastAPI application, wired. The collaborators are built by the
composition root (`container.py`) when the application starts, and stopped when it stops."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.routing import Route

from jean_memory import __version__
from jean_memory.api import batchbody, health, memories, observability, search
from jean_memory.api.deps import require_api_key
from jean_memory.api.docs import install_docs
from jean_memory.api.drain import DrainMiddleware
from jean_memory.api.errors import install_error_handlers
from jean_memory.api.examples import document_examples
from jean_memory.api.guard import RequestGuard
from jean_memory.api.limits import document_limits
from jean_memory.api.responses import FastJSONResponse
from jean_memory.config import Settings, TelemetryMode
from jean_memory.container import Container
from jean_memory.embedding import Embedder, make_embedder
from jean_memory.mcp.server import PATH as MCP_PATH
from jean_memory.mcp.server import McpEndpoint
from jean_memory.storage.ltm import LongTermStore, open_store
from jean_memory.telemetry.asgi import TelemetryMiddleware
from jean_memory.telemetry.core import Telemetry


def create_app(
    settings: Settings | None = None,
    *,
    telemetry: Telemetry | None = None,
    embedder: Embedder | None = None,
    store: LongTermStore | None = None,
) -> FastAPI:
    """The application for these settings; tests may inject the telemetry, the embedder or the store."""
    settings = settings or Settings()
    telemetry = telemetry or Telemetry(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ltm = None if settings.cluster else store or open_store(settings)
        container = Container(settings, telemetry, embedder or make_embedder(settings), ltm)
        app.state.container = container
        telemetry.start()
        _warm_up_framework(app)  # before the container starts its own warm-up, which readiness waits for
        await container.start()
        try:
            async with mcp.run():
                yield
        finally:
            await container.close()
            telemetry.shutdown()

    app = FastAPI(
        title="Jean Memory V3",
        version=__version__,
        description="A durable, two-tier memory API for AI agents.",
        default_response_class=FastJSONResponse,
        lifespan=lifespan,
        docs_url=None,  # served from local assets by `install_docs`, or not at all (JM_DOCS)
        redoc_url=None,
    )
    if settings.docs:
        install_docs(app, app.title)
    app.state.settings = settings
    app.state.telemetry = telemetry
    _document_streamed_bodies(app)
    install_error_handlers(app)
    auth = [Depends(require_api_key)] if settings.auth_enabled else []
    app.include_router(memories.router, dependencies=auth)
    app.include_router(search.router, dependencies=auth)
    app.include_router(health.router)
    app.include_router(observability.router)
    mcp = McpEndpoint(app.state, settings, telemetry)  # the same tools as /v1's routes, behind the same guard
    # first: FastAPI walks its routes in order for every request, and /mcp would otherwise be matched last
    app.router.routes.insert(0, Route(MCP_PATH, mcp, methods=["GET", "POST", "DELETE"], include_in_schema=False))
    if settings.faults_enabled:  # fire drills only; needs JM_ADMIN_TOKEN too (validated in Settings)
        from jean_memory.api.admin import admin

        app.include_router(admin)

    openapi = app.openapi
    app.openapi = lambda: document_examples(document_limits(openapi(), settings))  # type: ignore[method-assign]
    # the key, the tenant's limits and the body's size, before the body is read
    app.add_middleware(RequestGuard, settings=settings, tenants=telemetry.metrics.tenants)
    app.add_middleware(DrainMiddleware, state=app.state)
    if settings.telemetry is TelemetryMode.LEAN:
        app.add_middleware(TelemetryMiddleware, telemetry=telemetry)
    elif settings.telemetry is TelemetryMode.STOCK:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, tracer_provider=telemetry.provider)
    return app


def _document_streamed_bodies(app: FastAPI) -> None:
    """The batch add reads its own body (`api/batchbody`): its schema joins the document's components."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(batchbody.openapi_components())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _warm_up_framework(app: FastAPI) -> None:
    """FastAPI builds every router's effective routes at the first request that walks them, in that
    request's callback (tens of milliseconds on the event loop), and anyio imports its backend at the first
    streamed response: do both at start-up instead."""
    scope = {"type": "http", "path": "/", "root_path": "", "method": "GET", "headers": [], "query_string": b""}
    for route in app.router.routes:
        route.matches(scope)
    importlib.import_module("anyio._backends._asyncio")  # streamed responses import it at their first use
