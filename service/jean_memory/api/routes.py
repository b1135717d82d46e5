"""Route handlers: validate, call the service, shape the response. Nothing else."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from starlette.exceptions import HTTPException

from jean_memory import jsonutil
from jean_memory.api.deps import Config, Service
from jean_memory.api.responses import FastJSONResponse
from jean_memory.api.schemas import (
    USER_ID_PATTERN,
    AddBatch,
    AddMemory,
    Created,
    CreatedBatch,
    ErrorOut,
    MemoryOut,
    MemoryPage,
    SearchOut,
    SearchRequest,
    _Item,
)
from jean_memory.config import Settings
from jean_memory.errors import Invalid
from jean_memory.service import CURSOR_PATTERN, NewMemory, make_cursor, parse_cursor

_ERRORS = {
    s: {"model": ErrorOut} for s in (400, 401, 404, 409, 422, 429, 503)
}  # documented for every route, so the OpenAPI schema tells clients (and schemathesis) the truth
UserIdQuery = Annotated[
    str, Query(min_length=1, max_length=256, pattern=USER_ID_PATTERN, description="Owner of the memory.")
]
MemoryId = Annotated[uuid.UUID, Path(description="The memory's UUID.")]

#: Authentication is added by `create_app` only when keys are configured, so the schema says the truth.
v1 = APIRouter(prefix="/v1", responses=_ERRORS)  # type: ignore[arg-type]
health = APIRouter()


def _new(item: _Item, field: str, settings: Settings) -> NewMemory:
    if len(item.content.encode()) > settings.max_content_bytes:
        raise Invalid(f"{field}content: longer than {settings.max_content_bytes} bytes", field=f"{field}content")
    if len(jsonutil.dumps(item.metadata)) > settings.max_metadata_bytes:
        raise Invalid(
            f"{field}metadata: larger than {settings.max_metadata_bytes} bytes as JSON", field=f"{field}metadata"
        )
    memory_id = str(item.id) if item.id is not None else None
    return NewMemory(item.content, item.metadata, item.salience, memory_id, item.created_at)


@v1.post("/memories", status_code=201, response_model=Created)
async def add_memory(body: AddMemory, service: Service, settings: Config) -> FastJSONResponse:
    (memory,) = await service.add(body.user_id, [_new(body, "", settings)])
    return FastJSONResponse(
        {"id": memory.id, "user_id": memory.user_id, "created_at": memory.created_at}, status_code=201
    )


@v1.post("/memories/batch", status_code=201, response_model=CreatedBatch)
async def add_batch(body: AddBatch, service: Service, settings: Config) -> FastJSONResponse:
    if len(body.items) > settings.max_batch_items:
        raise Invalid(f"items: more than {settings.max_batch_items} items", field="items")
    items = [_new(item, f"items[{i}].", settings) for i, item in enumerate(body.items)]
    memories = await service.add(body.user_id, items, mode="batch")
    return FastJSONResponse({"ids": [m.id for m in memories]}, status_code=201)


@v1.api_route("/memories/batch", methods=["GET", "DELETE", "PUT", "PATCH"], include_in_schema=False)
async def batch_other_methods() -> None:
    """`/memories/batch` is not a memory id: answer 405, not a 422 about a malformed id."""
    raise HTTPException(405, "Method Not Allowed")


@v1.get("/memories/{id}", response_model=MemoryOut)
async def get_memory(id: MemoryId, user_id: UserIdQuery, service: Service) -> FastJSONResponse:
    memory = await service.get(user_id, str(id))
    return FastJSONResponse(memory.public())


@v1.delete("/memories/{id}", status_code=204)
async def delete_memory(id: MemoryId, user_id: UserIdQuery, service: Service) -> Response:
    await service.delete(user_id, str(id))
    return Response(status_code=204)


@v1.get("/memories", response_model=MemoryPage)
async def list_memories(
    user_id: UserIdQuery,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, pattern=CURSOR_PATTERN, description="next_cursor of the previous page.")
    ] = None,
) -> FastJSONResponse:
    before = parse_cursor(cursor) if cursor else None
    page = await service.list_page(user_id, limit, before)
    next_cursor = make_cursor(page[-1]) if len(page) == limit else None
    return FastJSONResponse({"items": [m.public() for m in page], "next_cursor": next_cursor})


@v1.post("/search", response_model=SearchOut)
async def search(body: SearchRequest, service: Service) -> FastJSONResponse:
    result = await service.search(body.user_id, body.query, body.k, body.filters)
    return FastJSONResponse(
        {
            "results": [
                {
                    "id": h.memory.id,
                    "content": h.memory.content,
                    "score": h.score,
                    "metadata": h.memory.metadata,
                    "tier": h.tier,
                }
                for h in result.hits
            ],
            "took_ms": round(result.took_s * 1000, 3),
        }
    )


@health.get("/healthz")
async def healthz() -> FastJSONResponse:
    """Alive: the process answers."""
    return FastJSONResponse({"status": "ok"})


@health.get("/readyz", responses={503: {"model": dict}})
async def readyz(service: Service) -> FastJSONResponse:
    """Ready: journal open, tiers rebuilt, store of record reachable."""
    checks = {"tiers_loaded": service.warm, "ltm_reachable": service.shuttle.store_ok}
    ok = all(checks.values())
    return FastJSONResponse(
        {"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503
    )
