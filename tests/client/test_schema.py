"""The client against the service's own OpenAPI schema: every route has a call in both clients, and
the typed models name exactly the fields the service documents (a new field or route fails here, not
in a user's hands)."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import httpx
import pytest

from jean_memory_client import (
    AsyncJeanMemory,
    BatchCreated,
    Created,
    ExportedMemory,
    JeanMemory,
    Memory,
    NewMemory,
    SearchHit,
    Version,
)
from jean_memory_dev.processes import ServiceProcess

#: (method, path) of the OpenAPI document -> the client call that serves it.
ROUTES = {
    ("post", "/v1/memories"): "add",
    ("post", "/v1/memories/batch"): "add_batch",
    ("get", "/v1/memories"): "list",
    ("delete", "/v1/memories"): "forget",
    ("get", "/v1/memories/export"): "export",
    ("get", "/v1/memories/{id}"): "get",
    ("patch", "/v1/memories/{id}"): "update",
    ("delete", "/v1/memories/{id}"): "delete",
    ("get", "/v1/memories/{id}/history"): "history",
    ("post", "/v1/search"): "search",
    ("get", "/healthz"): "health",
    ("get", "/readyz"): "ready",
}
#: Response schemas -> the client's models.
MODELS: dict[str, type] = {
    "Created": Created,
    "CreatedBatch": BatchCreated,
    "MemoryOut": Memory,
    "Version": Version,
    "SearchHitOut": SearchHit,
}


@pytest.fixture(scope="module")
def schema(shared_service: ServiceProcess) -> dict[str, Any]:
    return dict(httpx.get(f"{shared_service.url}/openapi.json", timeout=30).json())


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)} - {"extra"}


def test_every_route_has_a_call_in_both_clients(schema: dict[str, Any]) -> None:
    served = {
        (method, path)
        for path, operations in schema["paths"].items()
        for method in operations
        if path.startswith("/v1/") or path in ("/healthz", "/readyz")
    }
    assert served == set(ROUTES)
    for call in ROUTES.values():
        assert callable(getattr(JeanMemory, call)) and callable(getattr(AsyncJeanMemory, call))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_name_every_documented_field(schema: dict[str, Any], name: str) -> None:
    assert _fields(MODELS[name]) == set(schema["components"]["schemas"][name]["properties"])


def test_export_lines_name_every_documented_field(schema: dict[str, Any]) -> None:
    export = schema["paths"]["/v1/memories/export"]["get"]["responses"]["200"]["content"]["application/x-ndjson"]
    assert _fields(ExportedMemory) == set(export["schema"]["properties"])


def test_requests_send_only_documented_fields(schema: dict[str, Any]) -> None:
    schemas = schema["components"]["schemas"]
    add = set(schemas["AddMemory"]["properties"])
    assert _fields(NewMemory) | {"user_id", "dedupe"} == add
    assert set(inspect.signature(JeanMemory.add).parameters) - {"self", "content", "extra"} <= add
    update = set(inspect.signature(JeanMemory.update).parameters) - {"self", "user_id", "memory_id", "extra"}
    assert update == set(schemas["UpdateMemory"]["properties"])
    search = set(inspect.signature(JeanMemory.search).parameters) - {"self", "extra"}
    assert search == set(schemas["SearchRequest"]["properties"])
    for call in [*ROUTES.values(), "add_many", "iter_memories"]:  # the two clients take the same arguments
        sync, asyncio = (inspect.signature(getattr(c, call)).parameters.keys() for c in (JeanMemory, AsyncJeanMemory))
        assert sync == asyncio, call
