"""The golden set: the searches an operator knows the right answers to, read from an NDJSON file.

One JSON object a line (blank lines and lines starting with `#` are skipped):

    {"user_id": "golden-alice", "query": "what instrument do I play", "expected_ids": ["6f1c...", "0b2e..."]}
    {"tenant": "acme", "user_id": "golden-bob", "query": "my dog's name", "expected_ids": ["a3d9..."]}

`tenant` is optional (the default tenant when absent) and must be one an API key acts for; `expected_ids`
are the ids of memories that must come back in the top `JM_GOLDEN_K` (at most that many, distinct).
The file is read once, when the settings are validated at start-up: a bad line stops the start with an
error naming the file, the line and the field, never the line's text (queries may be personal).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from jean_memory.memory import owner_key

#: The most lines a golden set may hold: each is one search per replay, on the service's own read capacity.
MAX_LINES = 10_000
#: What a user id may be: the API's rule (no control characters, not blank, at most 256 characters).
USER_ID_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"


class GoldenSetError(ValueError):
    """The golden set file cannot be used; the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class GoldenQuery:
    """One replayed search: whose memories (the owner key, tenant included), the query, the right answers."""

    owner: str
    query: str
    expected: frozenset[str]


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    tenant: str = Field("", pattern=r"^([A-Za-z0-9._-]{1,64})?$")
    user_id: str = Field(min_length=1, max_length=256, pattern=USER_ID_PATTERN)
    query: str = Field(min_length=1)
    expected_ids: list[str] = Field(min_length=1)

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is blank")
        return value

    @field_validator("expected_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value) or not all(v.strip() for v in value):
            raise ValueError("must be distinct, non-blank ids")
        return value


def load(path: Path, k: int, max_query_chars: int, tenants: Collection[str]) -> tuple[GoldenQuery, ...]:
    """Every line of the file, checked: JSON, the fields, at most `k` expected ids, a query the API would
    accept, a tenant some API key acts for ("" always exists)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldenSetError(f"{path}: cannot be read ({type(exc).__name__})") from None
    queries: list[GoldenQuery] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        where = f"{path} line {number}"
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise GoldenSetError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(data, dict):
            raise GoldenSetError(f"{where}: not a JSON object")
        try:
            line = _Line.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'line'}: {str(e['msg']).removeprefix('Value error, ')}"
                for e in exc.errors(include_input=False, include_url=False)
            )
            raise GoldenSetError(f"{where}: {problems}") from None
        if len(line.query) > max_query_chars:
            raise GoldenSetError(f"{where}: query: longer than {max_query_chars} characters (JM_MAX_QUERY_CHARS)")
        if len(line.expected_ids) > k:
            raise GoldenSetError(
                f"{where}: expected_ids: {len(line.expected_ids)} ids, more than the {k} a replay looks at "
                "(JM_GOLDEN_K)"
            )
        if line.tenant and line.tenant not in tenants:
            raise GoldenSetError(f"{where}: tenant: no API key acts for this tenant (JM_API_KEYS, JM_API_KEYS_FILE)")
        queries.append(GoldenQuery(owner_key(line.tenant, line.user_id), line.query, frozenset(line.expected_ids)))
        if len(queries) > MAX_LINES:
            raise GoldenSetError(f"{where}: more than {MAX_LINES} searches")
    if not queries:
        raise GoldenSetError(f"{path}: holds no search")
    return tuple(queries)
