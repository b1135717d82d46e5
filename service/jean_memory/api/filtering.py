"""`filters` at the HTTP edge: compiled once per request (the grammar is `jean_memory.filters`), and
described in the OpenAPI schema as the `Filter` component.

A search takes its filter in the JSON body; list, export and bulk delete take it as the `filters` query
parameter holding the same JSON object (URL-encoded), so they stay a GET and a DELETE of the collection
(cacheable, bookmarkable, and a DELETE whose whole meaning is in its URL, as in access logs). The query
parameter is declared with OpenAPI's `content` (a JSON-encoded parameter), so the schema gives its shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from jean_memory import jsonutil
from jean_memory.api.schemas import FILTER_MARK
from jean_memory.config import Settings
from jean_memory.errors import Invalid
from jean_memory.filters import Filter, Limits, compile_filter, parse_filter_json

#: The longest `filters` query parameter, in characters: a URL must fit the server's request line.
MAX_QUERY_FILTER_CHARS = 8192

DESCRIPTION = (
    'Which memories: `{"name": value}` (equality) or `{"name": {"$op": operand}}` with $eq $ne $in $nin '
    "$gt $gte $lt $lte $exists $not, combined with `$and`/`$or` (non-empty lists of filters) and `$not`. A name "
    "is a top-level metadata key, or one of the memory's fields created_at, updated_at, expires_at (Unix "
    "seconds or ISO 8601), agent_id, run_id. A missing key equals only null; ordering compares numbers with "
    "numbers and strings with strings, anything else never matches. Names at most JM_MAX_KEY_CHARS characters, "
    "at most JM_MAX_FILTER_KEYS keys an object, JM_MAX_FILTER_DEPTH levels, JM_MAX_FILTER_CLAUSES clauses. "
    "Semantics in full: docs/api.md#filters."
)

_REF = "#/components/schemas/"
_SCALAR: list[dict[str, Any]] = [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]
_TIME_FIELDS = ("created_at", "updated_at", "expires_at")


def _operators(scalar: list[dict[str, Any]], ordered: list[dict[str, Any]], itself: str) -> dict[str, Any]:
    listed = {"type": "array", "items": {"anyOf": scalar}}
    return {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {
            "$eq": {"anyOf": scalar},
            "$ne": {"anyOf": scalar},
            "$in": listed,
            "$nin": listed,
            **{op: {"anyOf": ordered} for op in ("$gt", "$gte", "$lt", "$lte")},
            "$exists": {"type": "boolean"},
            "$not": {"$ref": _REF + itself},
        },
    }


def components(settings: Settings | None) -> dict[str, Any]:
    """The `Filter` schema and its parts, with the limits in force (None: without them, as MCP tools state it)."""
    text: dict[str, Any] = {"type": "string"}
    if settings is not None:
        text["maxLength"] = settings.max_metadata_bytes
    scalar = [text, *_SCALAR[1:]]
    time_scalar = [{"type": "number"}, {"type": "string", "format": "date-time"}, {"type": "null"}]
    ordered = [{"type": "number"}, text]
    time_ordered = [{"type": "number"}, {"type": "string", "format": "date-time"}]
    nested: dict[str, Any] = {"type": "array", "minItems": 1, "items": {"$ref": _REF + "Filter"}}
    top: dict[str, Any] = {"type": "object", "description": DESCRIPTION}
    if settings is not None:
        nested["maxItems"] = settings.max_filter_clauses
        top["maxProperties"] = settings.max_filter_keys
    return {
        "Filter": {
            **top,
            "properties": {
                "$and": nested,
                "$or": nested,
                "$not": {"$ref": _REF + "Filter"},
                **{name: {"$ref": _REF + "FilterTimeCondition"} for name in _TIME_FIELDS},
            },
            # Any other name starting with `$` is an unknown operator (a 422): the always-false schema, in the
            # object form MCP clients port (a bare `false` is refused by the Inspector's strict check).
            "patternProperties": {"^\\$(?!(and|or|not)$)": {"not": {}}},
            "additionalProperties": {"$ref": _REF + "FilterCondition"},
        },
        "FilterCondition": {
            "description": "A value (equality) or an object of operators, all of which must hold.",
            "anyOf": [*scalar, _operators(scalar, ordered, "FilterCondition")],
        },
        "FilterTimeCondition": {
            "description": "A time: Unix seconds or ISO 8601 (a time without a zone is UTC).",
            "anyOf": [*time_scalar, _operators(time_scalar, time_ordered, "FilterTimeCondition")],
        },
    }


def _query_parameter(schema: dict[str, Any], words: str) -> dict[str, Any]:
    return {
        "parameters": [
            {
                "name": "filters",
                "in": "query",
                "required": False,
                "description": "A JSON object (URL-encoded), the grammar of `Filter`; at most "
                f"{MAX_QUERY_FILTER_CHARS} characters.{words}",
                "content": {"application/json": {"schema": schema}},
            }
        ]
    }


#: The `filters` query parameter of list and export (read by `query_filter`, not by FastAPI: a JSON-encoded
#: parameter is declared with `content`, which FastAPI's own parameters cannot say).
QUERY_PARAMETER = _query_parameter({"$ref": _REF + "Filter"}, "")
#: The bulk delete's: at least one entry (`{}` would select every memory: forgetting the user is without it).
DELETE_PARAMETER = _query_parameter(
    {"allOf": [{"$ref": _REF + "Filter"}], "minProperties": 1},
    " Deletes only the memories it selects; without it, the user is forgotten.",
)


def with_references(schema: Any, ref: str = _REF) -> Any:
    """The schema with each `FILTER_MARK` placeholder (a request model's `filters`) made a reference to the
    `Filter` component (under `ref`)."""
    if isinstance(schema, dict):
        if schema.get(FILTER_MARK):
            return {"$ref": ref + "Filter"}
        return {k: with_references(v, ref) for k, v in schema.items()}
    if isinstance(schema, list):
        return [with_references(v, ref) for v in schema]
    return schema


def self_contained(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its filters pointing into its own `$defs`, which get the grammar's parts
    (an MCP tool's input schema stands alone: it has no OpenAPI components to point into)."""
    if FILTER_MARK not in jsonutil.dumps_str(schema):
        return schema
    inlined: dict[str, Any] = with_references(schema, "#/$defs/")
    parts = jsonutil.loads(jsonutil.dumps_str(components(None)).replace(_REF, "#/$defs/"))
    inlined.setdefault("$defs", {}).update(parts)
    return inlined


def body_filter(raw: dict[str, Any] | None, settings: Settings) -> Filter | None:
    """A search body's `filters`, compiled (a 422 names the bad clause's path)."""
    return compile_filter(raw, Limits.of(settings))


def bulk_delete_filter(filters: Filter | None, given: bool) -> Filter | None:
    """A bulk delete's compiled filter (None: none `given`, forget the user or the scope). A filter given
    that selects every memory (`{}`) is refused: forgetting everything is said by leaving it out."""
    if filters is None and given:
        raise Invalid(
            "filters: selects every memory; to forget the user or a scope, leave filters out", field="filters"
        )
    return filters


def query_filter(request: Request, settings: Settings) -> Filter | None:
    """The `filters` query parameter, compiled; None when absent. Given twice, or too long: a 422."""
    values = request.query_params.getlist("filters")
    if not values:
        return None
    if len(values) > 1:
        raise Invalid("filters: given more than once", field="filters")
    if len(values[0]) > MAX_QUERY_FILTER_CHARS:
        raise Invalid(f"filters: longer than {MAX_QUERY_FILTER_CHARS} characters", field="filters")
    return parse_filter_json(values[0], Limits.of(settings))
