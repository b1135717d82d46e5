"""Request examples for the OpenAPI schema, the README's own, so `/docs` opens on bodies that work.

They are written into each operation's request body (`examples`, shown and sent by Swagger UI's
"Try it out") once the schema is generated; each is a valid request on a fresh service.
"""

from __future__ import annotations

from typing import Any

_MEMORY_ID = "3f0e5a52-6f0b-4a53-9d55-0c5c1b0f0a11"

#: (path, method) -> {name: {"summary", "value"}}
EXAMPLES: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("/v1/memories", "post"): {
        "add": {
            "summary": "A memory with metadata and salience",
            "value": {
                "user_id": "alice",
                "content": "I am allergic to peanuts",
                "metadata": {"kind": "health"},
                "salience": 0.9,
            },
        },
        "dedupe": {
            "summary": "Nothing new when a near-duplicate exists",
            "value": {"user_id": "alice", "content": "I am allergic to peanuts!", "dedupe": True},
        },
    },
    ("/v1/memories/batch", "post"): {
        "batch": {
            "summary": "Up to 1000 items, one with its own id",
            "value": {
                "user_id": "alice",
                "items": [{"content": "My car is a red Toyota"}, {"content": "I moved to Berlin", "id": _MEMORY_ID}],
            },
        },
    },
    ("/v1/memories/{id}", "patch"): {
        "update": {"summary": "A new version of the content", "value": {"content": "I moved to Hamburg"}},
    },
    ("/v1/search", "post"): {
        "search": {
            "summary": "By meaning, filtered by metadata",
            "value": {"user_id": "alice", "query": "which food makes me ill", "k": 3, "filters": {"kind": "health"}},
        },
    },
}


def document_examples(schema: dict[str, Any]) -> dict[str, Any]:
    """Put the examples into the schema's request bodies (idempotent: the schema is generated once)."""
    for (path, method), examples in EXAMPLES.items():
        body = schema.get("paths", {}).get(path, {}).get(method, {}).get("requestBody")
        if body is not None:
            body["content"]["application/json"]["examples"] = examples
    return schema
