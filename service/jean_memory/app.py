"""create_app(settings): wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request, Response
from prometheus_client.exposition import choose_encoder

from jean_memory import __version__
from jean_memory.api.deps import require_api_key
from jean_memory.api.errors import install_error_handlers
from jean_memory.api.responses import FastJSONResponse
from jean_memory.api.routes import health, v1
from jean_memory.config import Settings, TelemetryMode
from jean_memory.embedding import Embedder, make_embedder
from jean_memory.ltm import open_store
from jean_memory.service import MemoryService
from jean_memory.telemetry.asgi import TelemetryMiddleware
from jean_memory.telemetry.core import Telemetry
from jean_memory.telemetry.dashboard import snapshot


def create_app(
    settings: Settings | None = None, *, telemetry: Telemetry | None = None, embedder: Embedder | None = None
) -> FastAPI:
    settings = settings or Settings()
    telemetry = telemetry or Telemetry(settings)
    metrics = telemetry.metrics

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = MemoryService(settings, telemetry, embedder or make_embedder(settings), open_store(settings))
        app.state.service = service
        telemetry.start()
        await service.start()
        try:
            yield
        finally:
            await service.close()
            telemetry.shutdown()

    app = FastAPI(
        title="Jean Memory V3",
        version=__version__,
        description="A durable, two-tier memory API for AI agents.",
        default_response_class=FastJSONResponse,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.telemetry = telemetry
    install_error_handlers(app)
    auth = [Depends(require_api_key)] if settings.api_keys else []
    app.include_router(v1, dependencies=auth)
    app.include_router(health)
    if settings.faults_enabled:  # fire drills only; needs JM_ADMIN_TOKEN too (validated in Settings)
        from jean_memory.api.admin import admin

        app.include_router(admin)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        """Prometheus text, or OpenMetrics (with exemplars) when the scraper asks for it."""
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(metrics.registry), media_type=content_type)

    @app.get("/metrics/dashboard", tags=["telemetry"])
    async def dashboard(request: Request) -> FastJSONResponse:
        """The product plan's dashboard over a sliding window, with the alert thresholds' breach flags."""
        service: MemoryService = request.app.state.service
        return FastJSONResponse(
            snapshot(telemetry.window, metrics, service.search_window.rate_or_none, service.stm.nbytes)
        )

    if settings.telemetry is TelemetryMode.LEAN:
        app.add_middleware(TelemetryMiddleware, telemetry=telemetry)
    elif settings.telemetry is TelemetryMode.STOCK:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, tracer_provider=telemetry.provider)
    return app
