"""Request parameters and documented error responses shared by the `/v1` routers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Query

from jean_memory.api.schemas import USER_ID_PATTERN, ErrorOut

#: Documented for every route, so the OpenAPI schema tells clients (and schemathesis) the truth.
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorOut} for s in (400, 401, 404, 408, 409, 413, 422, 429, 503, 507)
}

UserIdQuery = Annotated[
    str, Query(min_length=1, max_length=256, pattern=USER_ID_PATTERN, description="Owner of the memory.")
]
MemoryId = Annotated[uuid.UUID, Path(description="The memory's UUID.")]
