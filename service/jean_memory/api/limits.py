"""The request limits that come from the settings (`JM_MAX_*`), checked once the body is parsed and
published in the OpenAPI schema with the values in force.

They bound what one request may make the service hold or do: a query is embedded and kept in the
caches, each filter key is compared with every candidate memory, each metadata key is stored, indexed
by filters and returned. The request models (`schemas.py`) check what does not depend on settings.
"""

from __future__ import annotations

from typing import Any

from jean_memory import jsonutil
from jean_memory.api import filtering
from jean_memory.api.filtering import body_filter
from jean_memory.api.schemas import SearchRequest
from jean_memory.config import Settings
from jean_memory.errors import Invalid
from jean_memory.filters import Filter


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


def check_search(body: SearchRequest, settings: Settings) -> Filter | None:
    """The query's length, and the filter, compiled within its limits (both are paid for on every candidate,
    per search): the compiled filter, or None."""
    if len(body.query) > settings.max_query_chars:
        raise Invalid(f"query: longer than {settings.max_query_chars} characters", field="query")
    return body_filter(body.filters, settings)


def document_limits(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Write the limits in force into the OpenAPI schema (`maxLength`, `maxProperties`, the `Filter`
    components), so a client validating against it and the server agree. The key length is stated in the
    descriptions only: `propertyNames` sends schemathesis's generator (under CPython 3.11.7's threads) into an
    interpreter bug (`SystemError: AST constructor recursion depth mismatch`, gh-106905)."""
    models = schema.get("components", {}).get("schemas", {})
    search = models.get("SearchRequest", {}).get("properties", {})
    if "query" in search:
        search["query"]["maxLength"] = settings.max_query_chars
    models.update(filtering.components(settings))
    return dict(filtering.with_references(schema))
