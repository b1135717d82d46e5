"""Request parameters and documented error responses shared by the `/v1` routers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Query

from jean_memory.api.schemas import USER_ID_PATTERN, ErrorOut


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses a route can give, in the service's error shape, for its OpenAPI entry."""
    return {s: {"model": ErrorOut} for s in sorted(statuses)}


#: What every `/v1` route can answer: a missing or duplicated key (401), a bad parameter (422), a
#: tenant's or the model's limit (429), admission, draining or an unreachable store (503).
_ANY = (401, 422, 429, 503)
#: What reading a body adds (`api/guard.py`): malformed JSON or a cut body (400), a trickle (408), too large (413).
_BODY = (400, 408, 413)
#: Per route, so the schema says which errors each can give (and schemathesis holds the service to it).
ADD_ERRORS = errors(*_ANY, *_BODY, 409, 507)  # 409: an id reused with other content; 507: the disk is full
UPDATE_ERRORS = errors(*_ANY, *_BODY, 404, 507)
DELETE_ERRORS = errors(*_ANY, 404, 507)
#: A URL past the guard's limit (414): the routes whose `filters` query parameter can carry one.
_URL = (414,)
FORGET_ERRORS = errors(*_ANY, *_URL, 507)
GET_ERRORS = errors(*_ANY, 404)
LIST_ERRORS = errors(*_ANY, *_URL)
SEARCH_ERRORS = errors(*_ANY, *_BODY)

UserIdQuery = Annotated[
    str, Query(min_length=1, max_length=256, pattern=USER_ID_PATTERN, description="Owner of the memory.")
]
AgentIdQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=256, pattern=USER_ID_PATTERN, description="Only this agent's memories."),
]
RunIdQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=256, pattern=USER_ID_PATTERN, description="Only this run's memories."),
]
MemoryId = Annotated[uuid.UUID, Path(description="The memory's UUID.")]
