"""`POST /v1/search`: the user's memories ranked by meaning and words."""

from __future__ import annotations

from fastapi import APIRouter

from jean_memory.api.deps import Config, Reader, Tenant
from jean_memory.api.limits import check_search
from jean_memory.api.params import SEARCH_ERRORS
from jean_memory.api.responses import FastJSONResponse
from jean_memory.api.schemas import SearchOut, SearchRequest
from jean_memory.core.fusion import SearchOptions
from jean_memory.core.reads import SearchResult
from jean_memory.memory import JsonObject, Scope, owner_key

#: Authentication is added by `create_app` only when keys are configured, so the schema says the truth.
router = APIRouter(prefix="/v1")


def options_of(body: SearchRequest) -> SearchOptions:
    """The request's ranking options: the route and the MCP search tool read them the same way."""
    return SearchOptions(
        mode=body.mode,
        explain=body.explain,
        min_score=body.min_score,
        recency_boost=body.recency_boost,
        recency_half_life_s=body.recency_half_life_s,
        salience_boost=body.salience_boost,
    )


def search_json(result: SearchResult) -> JsonObject:
    """The answer's JSON (`SearchOut`), for the route and the MCP search tool alike."""
    return {
        "results": [
            {
                "id": h.memory.id,
                "content": h.memory.content,
                "score": h.score,
                "metadata": h.memory.metadata,
                "agent_id": h.memory.agent_id,
                "run_id": h.memory.run_id,
                "tier": h.tier,
                **({"explain": h.explain} if h.explain is not None else {}),
            }
            for h in result.hits
        ],
        "took_ms": round(result.took_s * 1000, 3),
    }


@router.post("/search", response_model=SearchOut, responses=SEARCH_ERRORS)
async def search(body: SearchRequest, reads: Reader, tenant: Tenant, settings: Config) -> FastJSONResponse:
    """The user's `k` memories best matching the query, best first: by meaning and by words fused (`mode`
    hybrid, the default), or by either alone; `filters` (the `Filter` grammar) select the memories ranked.
    Reads its own writes: a memory added before the search is found. Searches every scope of the user
    unless `agent_id` and/or `run_id` restrict it (the filters apply within the scope)."""
    filters = check_search(body, settings)
    result = await reads.search(
        owner_key(tenant, body.user_id), body.query, body.k, filters, options_of(body),
        Scope(body.agent_id, body.run_id),
    )  # fmt: skip
    return FastJSONResponse(search_json(result))
