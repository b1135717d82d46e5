"""The request limits that come from the settings (`JM_MAX_*`), checked once the body is parsed and
published in the OpenAPI schema with the values in force.

They bound what one request may make the service hold or do: a query is embedded and kept in the
caches, each filter key is compared with every candidate memory, each metadata key is stored, indexed
by filters and returned. The request models (`schemas.py`) check what does not depend on settings.
"""

from __future__ import annotations

from typing import Any

from jean_memory import jsonutil
from jean_memory.api.schemas import SearchRequest
from jean_memory.config import Settings
from jean_memory.errors import Invalid


def check_item(content: str | None, metadata: dict[str, Any] | None, prefix: str, settings: Settings) -> None:
    """An item's content and metadata; `prefix` names the item in a batch (`items[3].`)."""
    if content is not None and len(content.encode()) > settings.max_content_bytes:
        raise Invalid(f"{prefix}content: longer than {settings.max_content_bytes} bytes", field=f"{prefix}content")
    if metadata is None:
        return
    # Top-level keys are what filters name; deeper ones are bounded by the object's size alone.
    for key in metadata:
        if len(key) > settings.max_key_chars:
            raise Invalid(
                f"{prefix}metadata: a key longer than {settings.max_key_chars} characters ({key[:32]}...)",
                field=f"{prefix}metadata",
            )
    if len(jsonutil.dumps(metadata)) > settings.max_metadata_bytes:
        raise Invalid(
            f"{prefix}metadata: larger than {settings.max_metadata_bytes} bytes as JSON", field=f"{prefix}metadata"
        )


def check_search(body: SearchRequest, settings: Settings) -> None:
    """The query's length, and the filters' size: both are paid for on every candidate, per search."""
    if len(body.query) > settings.max_query_chars:
        raise Invalid(f"query: longer than {settings.max_query_chars} characters", field="query")
    filters = body.filters or {}
    if len(filters) > settings.max_filter_keys:
        raise Invalid(f"filters: more than {settings.max_filter_keys} keys", field="filters")
    for key, value in filters.items():
        if len(key) > settings.max_key_chars:
            raise Invalid(f"filters: a key longer than {settings.max_key_chars} characters", field="filters")
        if isinstance(value, str) and len(value) > settings.max_metadata_bytes:
            raise Invalid(
                f"filters: a value longer than {settings.max_metadata_bytes} characters (it could never match)",
                field="filters",
            )


def document_limits(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Write the limits in force into the OpenAPI schema (`maxLength`, `maxProperties`), so a client
    validating against it and the server agree. The key length is stated in the descriptions only:
    `propertyNames` sends schemathesis's generator (under CPython 3.11.7's threads) into an interpreter
    bug (`SystemError: AST constructor recursion depth mismatch`, gh-106905)."""
    models = schema.get("components", {}).get("schemas", {})
    search = models.get("SearchRequest", {}).get("properties", {})
    if "query" in search:
        search["query"]["maxLength"] = settings.max_query_chars
    if "filters" in search:
        for option in search["filters"].get("anyOf", [search["filters"]]):
            if option.get("type") == "object":
                option["maxProperties"] = settings.max_filter_keys
                # a string value longer than any metadata could hold is refused
                for value in option.get("additionalProperties", {}).get("anyOf", []):
                    if value.get("type") == "string":
                        value["maxLength"] = settings.max_metadata_bytes
    return schema
