"""`POST /v1/search`: the user's memories ranked by meaning."""

from __future__ import annotations

from fastapi import APIRouter

from jean_memory.api.deps import Config, Reader, Tenant
from jean_memory.api.limits import check_search
from jean_memory.api.params import SEARCH_ERRORS
from jean_memory.api.responses import FastJSONResponse
from jean_memory.api.schemas import SearchOut, SearchRequest
from jean_memory.memory import owner_key

#: Authentication is added by `create_app` only when keys are configured, so the schema says the truth.
router = APIRouter(prefix="/v1")


@router.post("/search", response_model=SearchOut, responses=SEARCH_ERRORS)
async def search(body: SearchRequest, reads: Reader, tenant: Tenant, settings: Config) -> FastJSONResponse:
    """The user's `k` memories nearest the query in meaning, best first; `filters` match metadata exactly,
    before ranking. Reads its own writes: a memory added before the search is found."""
    check_search(body, settings)
    result = await reads.search(owner_key(tenant, body.user_id), body.query, body.k, body.filters)
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
