"""Admin routes for fire drills: set, read and clear injected faults. Mounted only when enabled."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from jean_memory.api.deps import AppContainer
from jean_memory.api.responses import FastJSONResponse
from jean_memory.errors import Invalid, Unauthorised
from jean_memory.faults import FaultSpec, describe

_bearer = HTTPBearer(auto_error=False)


async def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """The admin token, compared as bytes: a header is Latin-1 to Starlette, so any token a client sends
    (non-ASCII included, which `compare_digest` refuses as `str`) is a 401, never a 500."""
    token = credentials.credentials.encode("latin-1") if credentials else b""
    expected = request.app.state.settings.admin_token.get_secret_value().encode()
    if not secrets.compare_digest(token, expected):
        raise Unauthorised("the admin token is required", field="authorization")


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
