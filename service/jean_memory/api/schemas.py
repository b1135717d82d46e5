"""Request and response models. Unknown fields are refused, so a typo names itself in the 422."""

from __future__ import annotations

import math
import re
import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

#: The error type pydantic-core itself gives a string it cannot read as Unicode; ours uses the same, so
#: `api/errors.py` words both one way.
UNICODE_ERROR = "string_unicode"

#: Printable text with at least one non-space character; control characters are refused.
USER_ID_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"


def _first_surrogate(value: str) -> int | None:
    """Where a lone surrogate sits in `value`, or None. JSON's `\\ud800` escape decodes to one, and no
    encoder downstream (orjson, SQLite, the model's tokenizer) can write it: it would be a 500."""
    if value.isascii():
        return None
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _unicode(value: str) -> str:
    at = _first_surrogate(value)
    if at is not None:
        raise PydanticCustomError(
            UNICODE_ERROR, "must be valid Unicode: a lone surrogate at character {at}", {"at": at}
        )
    return value


#: Every string a client sends is one of these (or inside a JSON value, checked by `_check_json`).
Text = Annotated[str, AfterValidator(_unicode)]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=USER_ID_PATTERN)]
#: An agent's or a run's id: the same rules as a user id.
ScopeId = UserId
AGENT_ID = "The agent the memory belongs to, within its user (optional; the same rules as user_id)."
RUN_ID = "The run (session) the memory belongs to, within its user (optional; the same rules as user_id)."
Scalar = str | int | float | bool | None  # strings checked with the object, by `_check_json`
#: Marks where the `Filter` component goes: pydantic cannot name a component it did not make, so
#: `api/filtering.py` puts the reference in place of this marker.
FILTER_MARK = "x-jm-filter"
#: A filter (`jean_memory.filters`): any JSON object here, compiled with the settings' limits by the route;
#: published as the `Filter` component (`api/filtering.py`).
FilterObject = Annotated[dict[str, Any], WithJsonSchema({"type": "object", FILTER_MARK: True})]


def _not_bool(value: Any) -> Any:
    """JSON's true/false are not numbers; pydantic's lax mode would take them as 1 and 0."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


Number = Annotated[float, BeforeValidator(_not_bool)]
Integer = Annotated[int, BeforeValidator(_not_bool)]
#: The last second of the year 9999: an expiry past it is a mistake (or `1e300`), not a plan.
LATEST_TIME = 253402300799.0
#: 2100-01-01T00:00:00Z: a creation time past it is a wrong unit (milliseconds) or a wrong clock. A
#: fixed bound, so the published schema states it exactly (a bound moving with the clock cannot be).
LATEST_CREATED_AT = 4102444800.0
UnixTime = Annotated[float, Field(gt=0, le=LATEST_TIME), BeforeValidator(_not_bool)]
CreatedAt = Annotated[float, Field(gt=0, le=LATEST_CREATED_AT), BeforeValidator(_not_bool)]
#: Constraints inside the type, so an optional field's JSON schema carries them (`minimum`, not `ge`).
Salience = Annotated[float, Field(ge=0.0, le=1.0), BeforeValidator(_not_bool)]
#: A search's score floor: relevance (at most 1) plus both boosts (at most 1 each).
MinScore = Annotated[float, Field(ge=0.0, le=3.0), BeforeValidator(_not_bool)]
VersionNumber = Annotated[int, Field(ge=1), BeforeValidator(_not_bool)]


def _check_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Refuse what JSON cannot carry: NaN and infinities, and strings (keys too) that are not Unicode.
    The message names the path inside the object, the error's field names the object."""
    if value is None:
        return None
    problem = _json_problem(value, "")
    if problem is not None:
        path, message = problem
        if message == "unicode":
            raise PydanticCustomError(
                UNICODE_ERROR, "must be valid Unicode: a lone surrogate in {path}", {"path": path}
            )
        raise ValueError(f"numbers must be finite ({path})")
    return value


def _json_problem(value: Any, path: str) -> tuple[str, str] | None:
    """The first (path, problem) in a decoded JSON value: a non-finite number or a lone surrogate."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (path or "the value", "finite")
    if isinstance(value, str):
        return None if _first_surrogate(value) is None else (path or "the value", "unicode")
    if isinstance(value, dict):
        for n, (key, item) in enumerate(value.items()):
            if _first_surrogate(key) is not None:
                return (f"{path}: key {n}" if path else f"key {n}", "unicode")
            found = _json_problem(item, f"{path}.{_safe(key)}" if path else _safe(key))
            if found is not None:
                return found
    if isinstance(value, list):
        for n, item in enumerate(value):
            found = _json_problem(item, f"{path}[{n}]")
            if found is not None:
                return found
    return None


def _safe(key: str, limit: int = 64) -> str:
    """A key as it may be quoted in a message: short, and only once it is known to be Unicode."""
    return key if len(key) <= limit else key[:limit] + "..."


#: Text must hold a character outside this class: the same class in the schema and in the check,
#: so a client validating against the published schema and the server agree on what is blank.
_BLANK = r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
TEXT_PATTERN = f"[^{_BLANK}]"
_TEXT = re.compile(TEXT_PATTERN)


def _check_content(value: str) -> str:
    _unicode(value)
    if not _TEXT.search(value):
        raise ValueError("must not be empty or whitespace")
    return value


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(
        description="The text to remember (UTF-8, at most JM_MAX_CONTENT_BYTES).",
        json_schema_extra={"pattern": TEXT_PATTERN},
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="A JSON object; filters match its keys (each at most JM_MAX_KEY_CHARS characters; the object "
        "at most JM_MAX_METADATA_BYTES as JSON).",
    )
    salience: Number = Field(0.5, ge=0.0, le=1.0, description="Importance from 0 to 1.")
    id: uuid.UUID | None = Field(None, description="Client-chosen UUID, for idempotent retries.")
    created_at: CreatedAt | None = Field(
        None, description="Unix time, before 2100; for imports and replication (default: now)."
    )
    expires_at: UnixTime | None = Field(
        None,
        description="Unix time from which the memory is never returned again (default: never); must be in the "
        "future when sent.",
    )
    agent_id: ScopeId | None = Field(None, description=AGENT_ID + " Set once: an update cannot move it.")
    run_id: ScopeId | None = Field(None, description=RUN_ID + " Set once: an update cannot move it.")

    _content = field_validator("content")(_check_content)
    _metadata = field_validator("metadata")(_check_json)

    @field_validator("expires_at")
    @classmethod
    def _expires(cls, value: float | None) -> float | None:
        return _not_past(value)


def _not_past(value: float | None) -> float | None:
    """An expiry already past would store a memory that can never be read. (Non-finite numbers and
    `1e300` are past the type's upper bound already.) JSON Schema has no "now": the schema states the
    rule in words only."""
    if value is not None and value <= time.time():
        raise ValueError("must be in the future (Unix seconds)")
    return value


DEDUPE = Field(
    False,
    description="Create nothing when the content is a near-duplicate (cosine >= JM_DEDUP_THRESHOLD) of one of the "
    "user's memories; the answer names that memory. Embeds on the write path.",
)


class AddMemory(_Item):
    user_id: UserId
    dedupe: StrictBool = DEDUPE


class BatchItem(_Item):
    version: VersionNumber | None = Field(
        None, description="Accepted so an export line is a valid item; a memory created starts at version 1."
    )


class BatchHead(BaseModel):
    """A batch add's fields besides its items (which are validated one by one as the body is parsed)."""

    model_config = ConfigDict(extra="forbid")

    user_id: UserId
    dedupe: StrictBool = DEDUPE


class AddBatch(BatchHead):
    items: list[BatchItem] = Field(min_length=1, description="1 to JM_MAX_BATCH_ITEMS memories.")


class UpdateMemory(BaseModel):
    """Any of the fields, at least one; a field left out (or null) is unchanged, but `expires_at: null`
    removes the expiry. A memory's scope (`agent_id`, `run_id`) cannot be changed: sending it is a 422."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    content: str | None = Field(None, description="New text: re-embedded, and searched by its new meaning only.",
                                json_schema_extra={"pattern": TEXT_PATTERN})  # fmt: skip
    metadata: dict[str, Any] | None = Field(
        None, description="Replaces the metadata object (keys at most JM_MAX_KEY_CHARS characters)."
    )
    salience: Salience | None = Field(None, description="Importance from 0 to 1.")
    expires_at: UnixTime | None = Field(None, description="Unix time, in the future when sent, or null for never.")

    _metadata = field_validator("metadata")(_check_json)

    @field_validator("content")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else _check_content(value)

    @field_validator("expires_at")
    @classmethod
    def _expires(cls, value: float | None) -> float | None:
        return _not_past(value)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId
    query: str = Field(
        description="What to look for, matched by meaning (at most JM_MAX_QUERY_CHARS characters).",
        json_schema_extra={"pattern": TEXT_PATTERN},
    )
    k: Integer = Field(10, ge=1, le=100, description="How many results.")
    agent_id: ScopeId | None = Field(None, description="Only this agent's memories (default: every agent's).")
    run_id: ScopeId | None = Field(None, description="Only this run's memories (default: every run's).")
    filters: FilterObject | None = Field(
        None,
        description='Which memories to rank (applied before ranking): `{"kind": "health"}` or the operator '
        "form, see the `Filter` schema (names of at most JM_MAX_KEY_CHARS characters).",
    )

    mode: Literal["hybrid", "vector", "lexical"] = Field(
        "hybrid",
        description="hybrid: meaning and words fused (the default); vector: meaning alone; lexical: words alone "
        "(BM25 over stemmed words).",
    )
    explain: StrictBool = Field(False, description="Return each leg's part of every result's score (`explain`).")
    min_score: MinScore | None = Field(None, description="Leave out results scoring below this (after boosts).")
    recency_boost: Number = Field(
        0.0, ge=0.0, le=1.0,
        description="Added to a result's score: this much for a memory written now, half as much one half-life ago.",
    )  # fmt: skip
    recency_half_life_s: Number = Field(
        30 * 86400.0, gt=0.0, le=1e10, description="The recency boost's half-life, in seconds (30 days by default)."
    )
    salience_boost: Number = Field(
        0.0, ge=0.0, le=1.0, description="Added to a result's score: this much times the memory's salience."
    )

    _query = field_validator("query")(_check_content)
    _filters = field_validator("filters")(_check_json)


class Created(BaseModel):
    id: str
    user_id: str
    created_at: float
    deduplicated: bool = Field(description="True: nothing was created; `id` names the memory this duplicates.")


class CreatedBatch(BaseModel):
    ids: list[str]
    deduplicated: list[bool] = Field(description="Per item: true when it duplicated a memory (its id names it).")


class MemoryOut(BaseModel):
    id: str
    user_id: str
    content: str
    metadata: dict[str, Any]
    salience: float
    created_at: float
    updated_at: float
    expires_at: float | None
    version: int = Field(description="1 when added, +1 per update.")
    agent_id: str | None = Field(description=AGENT_ID)
    run_id: str | None = Field(description=RUN_ID)


class ExportLine(BaseModel):
    """One line of `GET /v1/memories/export` (NDJSON): a valid item of a batch add as it is."""

    id: str
    content: str
    metadata: dict[str, Any]
    salience: float
    created_at: float
    expires_at: float | None
    version: int
    agent_id: str | None = Field(None, description=AGENT_ID + " Absent when unset.")
    run_id: str | None = Field(None, description=RUN_ID + " Absent when unset.")


class Forgotten(BaseModel):
    user_id: str
    forgotten: int = Field(
        description="How many memories were deleted: all the user had, or those of the scope (when one was named) "
        "that `filters` selected (when given)."
    )
    agent_id: str | None = Field(None, description="The agent whose memories were forgotten, when named.")
    run_id: str | None = Field(None, description="The run whose memories were forgotten, when named.")


class Version(BaseModel):
    version: int
    event: str = Field(description="add, update, delete or expire.")
    at: float
    content: str
    metadata: dict[str, Any]
    salience: float
    expires_at: float | None
    agent_id: str | None = Field(None, description=AGENT_ID)
    run_id: str | None = Field(None, description=RUN_ID)


class HistoryOut(BaseModel):
    id: str
    user_id: str
    versions: list[Version] = Field(description="Oldest first.")


class MemoryPage(BaseModel):
    items: list[MemoryOut]
    next_cursor: str | None


class SearchExplain(BaseModel):
    vector: float | None = Field(description="Cosine similarity of the vectors (null: no vector yet, or lexical mode).")
    lexical: float = Field(description="BM25 score (0: no stemmed word in common).")
    lexical_normalized: float = Field(description="BM25 divided by the best BM25 among the candidates.")
    relevance: float = Field(description="The fused score of the two legs, before boosts.")
    recency: float = Field(description="The recency boost added.")
    salience: float = Field(description="The salience boost added.")


class SearchHitOut(BaseModel):
    id: str
    content: str
    score: float
    metadata: dict[str, Any]
    agent_id: str | None = Field(description=AGENT_ID)
    run_id: str | None = Field(description=RUN_ID)
    tier: str = Field(description="stm (indexed), pending (vector not ready: scored by its words alone).")
    explain: SearchExplain | None = Field(None, description="Each leg's part of the score, when asked for.")


class SearchOut(BaseModel):
    results: list[SearchHitOut]
    took_ms: float


class ErrorDetail(BaseModel):
    field: str | None
    message: str


class ErrorOut(BaseModel):
    detail: str
    errors: list[ErrorDetail] = Field(default_factory=list)
