"""`/metrics` (Prometheus scrape), `/metrics/dashboard` (the product plan's JSON dashboard) and, when the
service times its event loop's callbacks (`JM_SLOW_CALLBACK_MS`), `/debug/loop-holds`."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client.exposition import choose_encoder

from jean_memory.api.deps import AppContainer
from jean_memory.api.responses import FastJSONResponse
from jean_memory.errors import NotFound
from jean_memory.telemetry import loopholds
from jean_memory.telemetry.collected import Collected
from jean_memory.telemetry.dashboard import snapshot

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request, container: AppContainer) -> Response:
    """Prometheus text, or OpenMetrics (with exemplars) when the scraper asks for it."""
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    collected = Collected(container.telemetry.metrics.registry)  # on the loop: the gauges read its state
    body = await asyncio.to_thread(encoder, collected)  # type: ignore[arg-type]  # a registry to the encoder
    return Response(body, media_type=content_type)


@router.get("/metrics/dashboard", tags=["telemetry"])
async def dashboard(container: AppContainer) -> FastJSONResponse:
    """The product plan's dashboard over a sliding window, with the alert thresholds' breach flags."""
    telemetry = container.telemetry
    return FastJSONResponse(
        snapshot(telemetry.window, telemetry.metrics.http, container.search_window.rate_or_none, container.stm.nbytes)
    )


def _holds() -> loopholds.LoopHolds:
    holds = loopholds.installed()
    if holds is None:
        raise NotFound("the event loop's callbacks are timed only with JM_SLOW_CALLBACK_MS set", field="url")
    return holds


@router.get("/debug/loop-holds", include_in_schema=False)
async def loop_holds() -> FastJSONResponse:
    """The longest event-loop callback of each operation since the start or the last DELETE."""
    return FastJSONResponse(_holds().report())


@router.delete("/debug/loop-holds", include_in_schema=False, status_code=204)
async def reset_loop_holds() -> Response:
    _holds().reset()
    return Response(status_code=204)
