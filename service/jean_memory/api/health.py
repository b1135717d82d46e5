"""`/healthz` (alive) and `/readyz` (ready to serve: what a load balancer and an orchestrator ask)."""

from __future__ import annotations

from fastapi import APIRouter

from jean_memory.api.deps import AppContainer
from jean_memory.api.responses import FastJSONResponse

router = APIRouter()


@router.get("/healthz")
async def healthz() -> FastJSONResponse:
    """Alive: the process answers."""
    return FastJSONResponse({"status": "ok"})


@router.get("/readyz", responses={503: {"model": dict}})
async def readyz(container: AppContainer) -> FastJSONResponse:
    """Ready: journal open, tiers rebuilt, store of record reachable."""
    checks = container.readiness
    ok = all(checks.values())
    return FastJSONResponse(
        {"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503
    )
