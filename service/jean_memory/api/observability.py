"""`/metrics` (Prometheus scrape) and `/metrics/dashboard` (the product plan's JSON dashboard)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client.exposition import choose_encoder

from jean_memory.api.deps import AppContainer
from jean_memory.api.responses import FastJSONResponse
from jean_memory.telemetry.dashboard import snapshot

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request, container: AppContainer) -> Response:
    """Prometheus text, or OpenMetrics (with exemplars) when the scraper asks for it."""
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(container.telemetry.metrics.registry), media_type=content_type)


@router.get("/metrics/dashboard", tags=["telemetry"])
async def dashboard(container: AppContainer) -> FastJSONResponse:
    """The product plan's dashboard over a sliding window, with the alert thresholds' breach flags."""
    telemetry = container.telemetry
    return FastJSONResponse(
        snapshot(telemetry.window, telemetry.metrics.http, container.search_window.rate_or_none, container.stm.nbytes)
    )
