"""create_app(settings): wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from jean_memory import __version__
from jean_memory.api.deps import require_api_key
from jean_memory.api.errors import install_error_handlers
from jean_memory.api.responses import FastJSONResponse
from jean_memory.api.routes import health, v1
from jean_memory.config import Settings
from jean_memory.embedding import Embedder, make_embedder
from jean_memory.ltm import open_store
from jean_memory.service import MemoryService
from jean_memory.telemetry.asgi import MetricsMiddleware
from jean_memory.telemetry.metrics import Metrics


def create_app(
    settings: Settings | None = None, *, metrics: Metrics | None = None, embedder: Embedder | None = None
) -> FastAPI:
    settings = settings or Settings()
    metrics = metrics or Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = MemoryService(settings, metrics, embedder or make_embedder(settings), open_store(settings))
        app.state.service = service
        await service.start()
        try:
            yield
        finally:
            await service.close()

    app = FastAPI(
        title="Jean Memory V3",
        version=__version__,
        description="A durable, two-tier memory API for AI agents.",
        default_response_class=FastJSONResponse,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    install_error_handlers(app)
    auth = [Depends(require_api_key)] if settings.api_keys else []
    app.include_router(v1, dependencies=auth)
    app.include_router(health)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
