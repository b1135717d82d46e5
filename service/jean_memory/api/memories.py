"""`/v1/memories`: add, batch add, get, update, history, delete, list, export and forget a user's
memories. Thin handlers: validate, scope the user id by the key's tenant, call the use case, shape the
response."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from jean_memory import jsonutil
from jean_memory.api import batchbody
from jean_memory.api.cursor import CURSOR_PATTERN, make_cursor, parse_cursor
from jean_memory.api.deps import Config, HistoryReader, Reader, Tenant, Writer
from jean_memory.api.errors import method_not_allowed
from jean_memory.api.filtering import DELETE_PARAMETER, QUERY_PARAMETER, bulk_delete_filter, query_filter
from jean_memory.api.limits import check_item
from jean_memory.api.params import (
    ADD_ERRORS,
    DELETE_ERRORS,
    FORGET_ERRORS,
    GET_ERRORS,
    LIST_ERRORS,
    UPDATE_ERRORS,
    AgentIdQuery,
    MemoryId,
    RunIdQuery,
    UserIdQuery,
)
from jean_memory.api.responses import FastJSONResponse
from jean_memory.api.schemas import (
    AddMemory,
    Created,
    CreatedBatch,
    ExportLine,
    Forgotten,
    HistoryOut,
    MemoryOut,
    MemoryPage,
    UpdateMemory,
    _Item,
)
from jean_memory.config import Settings
from jean_memory.cooperative import Slices, mapped
from jean_memory.core.writes import NewMemory, Patch
from jean_memory.errors import Invalid
from jean_memory.memory import Memory, Scope, owner_key

#: Authentication is added by `create_app` only when keys are configured, so the schema says the truth.
router = APIRouter(prefix="/v1")


def _new(item: _Item, field: str, settings: Settings) -> NewMemory:
    check_item(item.content, item.metadata, field, settings)
    memory_id = str(item.id) if item.id is not None else None
    return NewMemory(
        item.content, item.metadata, item.salience, memory_id, item.created_at, item.expires_at, item.agent_id,
        item.run_id,
    )  # fmt: skip


@router.post("/memories", status_code=201, response_model=Created, responses={200: {"model": Created}, **ADD_ERRORS})
async def add_memory(body: AddMemory, writes: Writer, tenant: Tenant, settings: Config) -> FastJSONResponse:
    """201 with the new memory's id; 200 when `dedupe` found a near-duplicate (its id, nothing created)."""
    (stored,) = await writes.add(owner_key(tenant, body.user_id), [_new(body, "", settings)], dedupe=body.dedupe)
    memory = stored.memory
    return FastJSONResponse(
        {
            "id": memory.id,
            "user_id": body.user_id,
            "created_at": memory.created_at,
            "deduplicated": stored.deduplicated,
        },
        status_code=200 if stored.deduplicated else 201,
    )


@router.post(
    "/memories/batch",
    status_code=201,
    response_model=CreatedBatch,
    responses=ADD_ERRORS,
    openapi_extra=batchbody.OPENAPI_BODY,
)
async def add_batch(request: Request, writes: Writer, tenant: Tenant, settings: Config) -> FastJSONResponse:
    """Up to JM_MAX_BATCH_ITEMS memories in one durable commit; the ids in the items' order."""
    body = await batchbody.read_batch(request, settings.max_batch_items)
    slices = Slices()
    items: list[NewMemory] = []
    for i, item in enumerate(body.items):
        items.append(_new(item, f"items[{i}].", settings))
        await slices.pause()
    stored = await writes.add(owner_key(tenant, body.user_id), items, mode="batch", dedupe=body.dedupe)
    return FastJSONResponse(
        {"ids": [s.memory.id for s in stored], "deduplicated": [s.deduplicated for s in stored]}, status_code=201
    )


# `/memories/batch` and `/memories/export` are not memory ids: other methods get 405, not a 422 about a
# malformed id (and `Allow` names only the methods they serve).
router.add_api_route(
    "/memories/batch", method_not_allowed, methods=["GET", "DELETE", "PUT", "PATCH"], include_in_schema=False
)


@router.get(
    "/memories/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {"schema": ExportLine.model_json_schema()}}}, **LIST_ERRORS},
    openapi_extra=QUERY_PARAMETER,
)
async def export_memories(
    request: Request,
    user_id: UserIdQuery,
    reads: Reader,
    tenant: Tenant,
    settings: Config,
    agent_id: AgentIdQuery = None,
    run_id: RunIdQuery = None,
) -> StreamingResponse:
    """Every memory of the user (of the agent and/or run, when named; with `filters`, those of them it
    selects) as NDJSON, oldest first, streamed; each line is a valid batch-add item, its scope included."""
    memories = reads.export(owner_key(tenant, user_id), query_filter(request, settings), Scope(agent_id, run_id))
    first = await anext(memories, None)  # errors (503, 429) before the 200 is sent

    async def lines() -> AsyncIterator[bytes]:
        if first is None:
            return
        yield _export_line(first)
        async for memory in memories:
            yield _export_line(memory)

    return StreamingResponse(lines(), media_type="application/x-ndjson")


def _export_line(memory: Memory) -> bytes:
    line = {
        "id": memory.id,
        "content": memory.content,
        "metadata": memory.metadata,
        "salience": memory.salience,
        "created_at": memory.created_at,
        "expires_at": memory.expires_at,
        "version": memory.revision,
    }
    # Only when set, so a line of an unscoped memory stays an item an older release takes.
    if memory.agent_id is not None:
        line["agent_id"] = memory.agent_id
    if memory.run_id is not None:
        line["run_id"] = memory.run_id
    return jsonutil.dumps(line) + b"\n"


router.add_api_route(
    "/memories/export", method_not_allowed, methods=["POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
)


@router.get("/memories/{id}", response_model=MemoryOut, responses=GET_ERRORS)
async def get_memory(id: MemoryId, user_id: UserIdQuery, reads: Reader, tenant: Tenant) -> FastJSONResponse:
    """The memory's current version, or 404 when the user has no memory with this id (or it expired)."""
    memory = await reads.get(owner_key(tenant, user_id), str(id))
    return FastJSONResponse(memory.public())


@router.patch("/memories/{id}", response_model=MemoryOut, responses=UPDATE_ERRORS)
async def update_memory(
    id: MemoryId, user_id: UserIdQuery, body: UpdateMemory, writes: Writer, tenant: Tenant, settings: Config
) -> FastJSONResponse:
    """The memory's next version (the same version when nothing changes: a retried update is harmless)."""
    if not body.model_fields_set:
        raise Invalid("body: name at least one of content, metadata, salience, expires_at", field="body")
    check_item(body.content, body.metadata, "", settings)
    patch = Patch(body.content, body.metadata, body.salience, body.expires_at, "expires_at" in body.model_fields_set)
    memory = await writes.update(owner_key(tenant, user_id), str(id), patch)
    return FastJSONResponse(memory.public())


@router.get("/memories/{id}/history", response_model=HistoryOut, responses=GET_ERRORS)
async def memory_history(
    id: MemoryId, user_id: UserIdQuery, history: HistoryReader, tenant: Tenant
) -> FastJSONResponse:
    """Every version of the memory, oldest first (what each update changed, and when)."""
    entries = await history.history(owner_key(tenant, user_id), str(id))
    return FastJSONResponse({"id": str(id), "user_id": user_id, "versions": [e.public() for e in entries]})


@router.delete("/memories/{id}", status_code=204, responses=DELETE_ERRORS)
async def delete_memory(id: MemoryId, user_id: UserIdQuery, writes: Writer, tenant: Tenant) -> Response:
    """Delete the memory from every tier and the store of record: 204, or 404 when there is none."""
    await writes.delete(owner_key(tenant, user_id), str(id))
    return Response(status_code=204)


#: The query parameters a DELETE of the collection knows: any other (a typo of `filters` or `run_id`) is a
#: 422, never a silent forget of the whole user.
_DELETE_PARAMETERS = frozenset({"user_id", "agent_id", "run_id", "filters"})


@router.delete("/memories", response_model=Forgotten, responses=FORGET_ERRORS, openapi_extra=DELETE_PARAMETER)
async def forget_user(
    request: Request,
    user_id: UserIdQuery,
    writes: Writer,
    tenant: Tenant,
    settings: Config,
    agent_id: AgentIdQuery = None,
    run_id: RunIdQuery = None,
) -> FastJSONResponse:
    """Forget the user: every memory, from every tier, cache and the store of record (history too). With
    `agent_id` and/or `run_id`, only that scope's memories; with `filters`, only the memories (of the scope,
    when named) it selects. Either way each goes as a DELETE of it would (journaled, durable when answered;
    its history ends with the delete) and the user's other memories stay; the count is in `forgotten`."""
    unknown = sorted(set(request.query_params) - _DELETE_PARAMETERS)
    if unknown:
        raise Invalid(
            f"{unknown[0]}: not a parameter of this route (user_id, agent_id, run_id, filters)", field=unknown[0]
        )
    filters = bulk_delete_filter(query_filter(request, settings), "filters" in request.query_params)
    owner = owner_key(tenant, user_id)
    scope = Scope(agent_id, run_id)
    if filters is None:
        count = await writes.forget(owner, scope)
    else:
        count = await writes.delete_matching(owner, filters, scope)
    body: dict[str, object] = {"user_id": user_id, "forgotten": count}
    if scope:
        body.update(agent_id=agent_id, run_id=run_id)
    return FastJSONResponse(body)


@router.get("/memories", response_model=MemoryPage, responses=LIST_ERRORS, openapi_extra=QUERY_PARAMETER)
async def list_memories(
    request: Request,
    settings: Config,
    user_id: UserIdQuery,
    reads: Reader,
    tenant: Tenant,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, pattern=CURSOR_PATTERN, description="next_cursor of the previous page.")
    ] = None,
    agent_id: AgentIdQuery = None,
    run_id: RunIdQuery = None,
) -> FastJSONResponse:
    """The user's memories (of the agent and/or run, when named; with `filters`, those of them it selects),
    newest first, a page at a time: pass `next_cursor` back as `cursor`, with the same scope and `filters`."""
    before = parse_cursor(cursor) if cursor else None
    page = await reads.list_page(
        owner_key(tenant, user_id), limit, before, query_filter(request, settings), Scope(agent_id, run_id)
    )
    next_cursor = make_cursor(page[-1]) if len(page) == limit else None
    return FastJSONResponse({"items": await mapped(Memory.public, page), "next_cursor": next_cursor})
