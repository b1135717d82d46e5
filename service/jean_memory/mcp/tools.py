"""The MCP tools: their names, descriptions and input schemas, and what each one does.

Each tool takes the arguments of the `/v1` route it mirrors (the same pydantic types, so the same
limits and the same words in a refusal), calls the same use case (`core/writes.py`, `core/reads.py`)
and answers the route's JSON. Arguments are models with unknown fields refused: a scope (`agent_id`,
`run_id`) added to the `/v1` models later is one more field here, not a new tool.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from jean_memory.api.cursor import CURSOR_PATTERN, make_cursor, parse_cursor
from jean_memory.api.filtering import body_filter, bulk_delete_filter, self_contained
from jean_memory.api.limits import check_item, check_search
from jean_memory.api.schemas import (
    DEDUPE,
    TEXT_PATTERN,
    BatchItem,
    FilterObject,
    Salience,
    ScopeId,
    SearchRequest,
    UnixTime,
    UpdateMemory,
    UserId,
    _Item,
)
from jean_memory.api.search import options_of, search_json
from jean_memory.config import Settings
from jean_memory.container import Container
from jean_memory.cooperative import mapped
from jean_memory.core.writes import NewMemory, Patch
from jean_memory.errors import Invalid
from jean_memory.memory import Memory, Scope, owner_key

USER_ID = "The user whose memories these are: every tool reads and writes one user's memories only."
MEMORY_ID = "The memory's id (a UUID, as add_memories or search_memories returned it)."
AGENT_SCOPE = "the agent it belongs to (optional), so one agent's memories can be searched or forgotten apart."
RUN_SCOPE = "the run or session it belongs to (optional), so a session's scratch memories can be forgotten at its end."
#: The fields of one memory given beside `user_id` (the single form of add_memories).
_SINGLE = ("content", "metadata", "salience", "id", "expires_at", "agent_id", "run_id")


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AddArgs(_Args):
    """One memory (`content`, with its optional fields) or several (`items`), never both."""

    user_id: UserId = Field(description=USER_ID)
    content: str | None = Field(
        None,
        description="The text to remember, for one memory: a self-contained fact or event "
        '("Alice prefers window seats"). Leave out when sending `items`.',
        json_schema_extra={"pattern": TEXT_PATTERN},
    )
    metadata: dict[str, Any] | None = Field(
        None, description="For one memory: a JSON object of tags (e.g. {\"topic\": \"travel\"}); searches can filter "
        "on its keys."
    )  # fmt: skip
    salience: Salience | None = Field(None, description="For one memory: importance from 0 to 1 (default 0.5).")
    id: uuid.UUID | None = Field(
        None, description="For one memory: a UUID you choose, so retrying the same add never stores it twice."
    )
    expires_at: UnixTime | None = Field(
        None, description="For one memory: Unix time from which it is forgotten (default: never)."
    )
    agent_id: ScopeId | None = Field(None, description="For one memory: " + AGENT_SCOPE)
    run_id: ScopeId | None = Field(None, description="For one memory: " + RUN_SCOPE)
    items: Annotated[list[BatchItem], Field(min_length=1)] | None = Field(
        None,
        description="Several memories in one durable commit, each {content, metadata?, salience?, id?, expires_at?, "
        "agent_id?, run_id?}. Leave out when sending `content`.",
    )
    dedupe: StrictBool = DEDUPE

    @model_validator(mode="after")
    def _one_form(self) -> AddArgs:
        single = set(_SINGLE) & self.model_fields_set
        if self.items is None and self.content is None:
            raise Invalid("content: is required (or send several memories as items)", field="content")
        if self.items is not None and single:
            name = sorted(single)[0]
            raise Invalid(f"{name}: goes inside each of items, not beside them", field=name)
        return self

    def memories(self) -> list[_Item]:
        if self.items is not None:
            return list(self.items)
        fields = {k: getattr(self, k) for k in _SINGLE}
        return [_Item.model_validate({k: v for k, v in fields.items() if v is not None})]


#: `POST /v1/search`'s body as it is: a field the route learns, the tool learns too.
SearchArgs = SearchRequest


class MemoryRef(_Args):
    user_id: UserId = Field(description=USER_ID)
    id: uuid.UUID = Field(description=MEMORY_ID)


class ListArgs(_Args):
    user_id: UserId = Field(description=USER_ID)
    agent_id: ScopeId | None = Field(None, description="Only this agent's memories (default: every agent's).")
    run_id: ScopeId | None = Field(None, description="Only this run's memories (default: every run's).")
    limit: int = Field(50, ge=1, le=1000, description="Page size (newest first).")
    cursor: str | None = Field(
        None, max_length=512, pattern=CURSOR_PATTERN, description="next_cursor of the previous page, to read on."
    )
    filters: FilterObject | None = Field(
        None,
        description='Only the memories this filter selects: {"kind": "travel"}, or operators such as '
        '{"created_at": {"$gte": "2024-05-01T00:00:00Z"}, "$or": [...]} (the same grammar as search_memories).',
    )


class UpdateArgs(UpdateMemory):
    """`PATCH /v1/memories/{id}`: the memory named, and the fields to change."""

    user_id: UserId = Field(description=USER_ID)
    id: uuid.UUID = Field(description=MEMORY_ID)


class ForgetArgs(_Args):
    user_id: UserId = Field(description="The user to forget: every one of their memories is deleted, for good.")
    agent_id: ScopeId | None = Field(None, description="Forget only this agent's memories (the rest stay).")
    run_id: ScopeId | None = Field(None, description="Forget only this run's memories, e.g. a finished session.")
    filters: FilterObject | None = Field(
        None,
        description='Forget only the memories this filter selects (of the agent or run, when named): {"kind": '
        '"draft"}, or operators as in search_memories, e.g. {"created_at": {"$lt": "2024-01-01T00:00:00Z"}}.',
    )


#: A tool's body: the validated arguments, the tenant, the collaborators; the result is the `/v1` JSON.
Run = Callable[[Any, str, Container, Settings], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    args: type[BaseModel]
    run: Run
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = True

    def input_schema(self) -> dict[str, Any]:
        schema = self_contained(self.args.model_json_schema())
        schema.pop("title", None)
        schema.pop("description", None)
        return schema


async def _add(args: AddArgs, tenant: str, c: Container, settings: Settings) -> dict[str, Any]:
    memories = args.memories()
    if len(memories) > settings.max_batch_items:
        raise Invalid(f"items: more than {settings.max_batch_items} memories", field="items")
    prefix = "items[{}]." if args.items is not None else ""
    new: list[NewMemory] = []
    for i, item in enumerate(memories):
        check_item(item.content, item.metadata, prefix.format(i), settings)
        memory_id = str(item.id) if item.id is not None else None
        new.append(
            NewMemory(
                item.content,
                item.metadata,
                item.salience,
                memory_id,
                item.created_at,
                item.expires_at,
                item.agent_id,
                item.run_id,
            )
        )
    mode = "batch" if args.items is not None else "single"
    stored = await c.writes.add(owner_key(tenant, args.user_id), new, mode=mode, dedupe=args.dedupe)
    return {
        "user_id": args.user_id,
        "memories": [
            {
                "id": s.memory.id,
                "created_at": s.memory.created_at,
                "deduplicated": s.deduplicated,
                "agent_id": s.memory.agent_id,
                "run_id": s.memory.run_id,
            }
            for s in stored
        ],
    }


async def _search(args: SearchArgs, tenant: str, c: Container, settings: Settings) -> dict[str, Any]:
    filters = check_search(args, settings)
    result = await c.reads.search(
        owner_key(tenant, args.user_id), args.query, args.k, filters, options_of(args),
        Scope(args.agent_id, args.run_id),
    )  # fmt: skip
    return search_json(result)


async def _get(args: MemoryRef, tenant: str, c: Container, settings: Settings) -> dict[str, Any]:
    return (await c.reads.get(owner_key(tenant, args.user_id), str(args.id))).public()


async def _list(args: ListArgs, tenant: str, c: Container, settings: Settings) -> dict[str, Any]:
    before = parse_cursor(args.cursor) if args.cursor else None
    filters = body_filter(args.filters, settings)
    scope = Scope(args.agent_id, args.run_id)
    page = await c.reads.list_page(owner_key(tenant, args.user_id), args.limit, before, filters, scope)
    next_cursor = make_cursor(page[-1]) if len(page) == args.limit else None
    return {"items": await mapped(Memory.public, page), "next_cursor": next_cursor}


async def _update(args: UpdateArgs, tenant: str, c: Container, settings: Settings) -> dict[str, Any]:
    changed = args.model_fields_set - {"user_id", "id"}
    if not changed:
        raise Invalid("content: name at least one of content, metadata, salience, expires_at", field="content")
    check_item(args.content, args.metadata, "", settings)
    patch = Patch(args.content, args.metadata, args.salience, args.expires_at, "expires_at" in changed)
    memory = await c.writes.update(owner_key(tenant, args.user_id), str(args.id), patch)
    return memory.public()


async def _delete(args: MemoryRef, tenant: str, c: Container, settings: Settings) -> dict[str, Any]:
    await c.writes.delete(owner_key(tenant, args.user_id), str(args.id))
    return {"id": str(args.id), "deleted": True}


async def _forget(args: ForgetArgs, tenant: str, c: Container, settings: Settings) -> dict[str, Any]:
    scope = Scope(args.agent_id, args.run_id)
    owner = owner_key(tenant, args.user_id)
    filters = bulk_delete_filter(body_filter(args.filters, settings), args.filters is not None)
    if filters is None:
        count = await c.writes.forget(owner, scope)
    else:
        count = await c.writes.delete_matching(owner, filters, scope)
    out: dict[str, Any] = {"user_id": args.user_id, "forgotten": count}
    if scope:
        out.update(agent_id=args.agent_id, run_id=args.run_id)
    return out


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "add_memories",
        "Remember something about a user: one memory (`content`) or several at once (`items`). Stored durably "
        "before the answer; searchable at once. Returns each memory's id. With `dedupe`, a near-duplicate of an "
        "existing memory is not stored again (its id is returned, deduplicated: true).",
        AddArgs,
        _add,
        idempotent=False,
    ),
    ToolSpec(
        "search_memories",
        "Find a user's memories by meaning: the `k` closest to `query`, best first, each with its id, content, "
        "score (cosine, higher is closer) and metadata. `agent_id` and/or `run_id` keep only that agent's or run's "
        'memories (default: all the user\'s); `filters` keeps only the memories it selects: {"kind": "travel"} '
        "(metadata equality), or operators ($eq $ne $in $nin $gt $gte $lt $lte $exists, $and $or $not) over "
        "metadata keys and created_at, updated_at, expires_at (Unix seconds or ISO 8601), agent_id, run_id. Use "
        "it before answering a question about the user.",
        SearchArgs,
        _search,
        read_only=True,
    ),
    ToolSpec(
        "get_memory",
        "Read one memory by id: content, metadata, salience, times and version. Errors when the user has no such "
        "memory (or it expired).",
        MemoryRef,
        _get,
        read_only=True,
    ),
    ToolSpec(
        "list_memories",
        "List a user's memories (or only an agent's or a run's), newest first, a page at a time; pass `next_cursor` "
        "back as `cursor` for the next page (null when there is none). `filters` (as in search_memories) lists "
        "only the memories it selects.",
        ListArgs,
        _list,
        read_only=True,
    ),
    ToolSpec(
        "update_memory",
        "Change a memory: give its id and any of content, metadata (replaced whole), salience, expires_at (null: "
        "never). Returns the new version; a memory whose content changes is searched by its new meaning only.",
        UpdateArgs,
        _update,
    ),
    ToolSpec(
        "delete_memory",
        "Delete one memory by id, from everywhere it is kept. Errors when the user has no such memory.",
        MemoryRef,
        _delete,
        destructive=True,
    ),
    ToolSpec(
        "forget_user",
        "Forget a user entirely: every memory and its history, permanently; or, with `run_id` and/or `agent_id`, "
        "only that run's or agent's memories (e.g. a session's scratch memories when it ends); or, with `filters`, "
        "only the memories it selects. Returns how many memories went. Forget a whole user only when the user asks "
        "to be forgotten.",
        ForgetArgs,
        _forget,
        destructive=True,
    ),
)
BY_NAME = {tool.name: tool for tool in TOOLS}
