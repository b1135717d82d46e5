"""Admin routes for fire drills: set, read and clear injected faults. Mounted only when enabled."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from jean_memory.api.deps import AppContainer
from jean_memory.api.responses import FastJSONResponse
from jean_memory.errors import Invalid
from jean_memory.faults import FaultSpec, describe

_bearer = HTTPBearer(auto_error=False)


async def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    token = credentials.credentials if credentials else ""
    if not secrets.compare_digest(token, request.app.state.settings.admin_token):
        raise HTTPException(401, "authorization: the admin token is required", headers={"WWW-Authenticate": "Bearer"})


admin = APIRouter(prefix="/admin", dependencies=[Depends(require_admin)], include_in_schema=False)


def _apply(container: AppContainer, spec: FaultSpec) -> FastJSONResponse:
    try:
        container.apply_faults(spec)
    except ValueError as exc:
        raise Invalid(str(exc), field="body") from None
    return FastJSONResponse(describe(container.faults))


@admin.put("/faults")
async def set_faults(spec: FaultSpec, container: AppContainer) -> FastJSONResponse:
    """Replace the active faults."""
    return _apply(container, spec)


@admin.get("/faults")
async def get_faults(container: AppContainer) -> FastJSONResponse:
    return FastJSONResponse(describe(container.faults))


@admin.delete("/faults")
async def clear_faults(container: AppContainer) -> FastJSONResponse:
    return _apply(container, FaultSpec())
