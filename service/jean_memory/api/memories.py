"""`/v1/memories`: add, batch add, get, delete and list a user's memories. Thin handlers: validate,
call the use case, shape the response."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from starlette.exceptions import HTTPException

from jean_memory import jsonutil
from jean_memory.api.cursor import CURSOR_PATTERN, make_cursor, parse_cursor
from jean_memory.api.deps import Config, Reader, Writer
from jean_memory.api.params import ERRORS, MemoryId, UserIdQuery
from jean_memory.api.responses import FastJSONResponse
from jean_memory.api.schemas import (
    AddBatch,
    AddMemory,
    Created,
    CreatedBatch,
    MemoryOut,
    MemoryPage,
    _Item,
)
from jean_memory.config import Settings
from jean_memory.core.writes import NewMemory
from jean_memory.errors import Invalid

#: Authentication is added by `create_app` only when keys are configured, so the schema says the truth.
router = APIRouter(prefix="/v1", responses=ERRORS)


def _new(item: _Item, field: str, settings: Settings) -> NewMemory:
    if len(item.content.encode()) > settings.max_content_bytes:
        raise Invalid(f"{field}content: longer than {settings.max_content_bytes} bytes", field=f"{field}content")
    if len(jsonutil.dumps(item.metadata)) > settings.max_metadata_bytes:
        raise Invalid(
            f"{field}metadata: larger than {settings.max_metadata_bytes} bytes as JSON", field=f"{field}metadata"
        )
    memory_id = str(item.id) if item.id is not None else None
    return NewMemory(item.content, item.metadata, item.salience, memory_id, item.created_at)


@router.post("/memories", status_code=201, response_model=Created)
async def add_memory(body: AddMemory, writes: Writer, settings: Config) -> FastJSONResponse:
    (memory,) = await writes.add(body.user_id, [_new(body, "", settings)])
    return FastJSONResponse(
        {"id": memory.id, "user_id": memory.user_id, "created_at": memory.created_at}, status_code=201
    )


@router.post("/memories/batch", status_code=201, response_model=CreatedBatch)
async def add_batch(body: AddBatch, writes: Writer, settings: Config) -> FastJSONResponse:
    if len(body.items) > settings.max_batch_items:
        raise Invalid(f"items: more than {settings.max_batch_items} items", field="items")
    items = [_new(item, f"items[{i}].", settings) for i, item in enumerate(body.items)]
    memories = await writes.add(body.user_id, items, mode="batch")
    return FastJSONResponse({"ids": [m.id for m in memories]}, status_code=201)


@router.api_route("/memories/batch", methods=["GET", "DELETE", "PUT", "PATCH"], include_in_schema=False)
async def batch_other_methods() -> None:
    """`/memories/batch` is not a memory id: answer 405, not a 422 about a malformed id."""
    raise HTTPException(405, "Method Not Allowed")


@router.get("/memories/{id}", response_model=MemoryOut)
async def get_memory(id: MemoryId, user_id: UserIdQuery, reads: Reader) -> FastJSONResponse:
    memory = await reads.get(user_id, str(id))
    return FastJSONResponse(memory.public())


@router.delete("/memories/{id}", status_code=204)
async def delete_memory(id: MemoryId, user_id: UserIdQuery, writes: Writer) -> Response:
    await writes.delete(user_id, str(id))
    return Response(status_code=204)


@router.get("/memories", response_model=MemoryPage)
async def list_memories(
    user_id: UserIdQuery,
    reads: Reader,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, pattern=CURSOR_PATTERN, description="next_cursor of the previous page.")
    ] = None,
) -> FastJSONResponse:
    before = parse_cursor(cursor) if cursor else None
    page = await reads.list_page(user_id, limit, before)
    next_cursor = make_cursor(page[-1]) if len(page) == limit else None
    return FastJSONResponse({"items": [m.public() for m in page], "next_cursor": next_cursor})
