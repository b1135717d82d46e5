"""Request and response models. Unknown fields are refused, so a typo names itself in the 422."""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

UserId = Annotated[str, StringConstraints(min_length=1, max_length=256, strip_whitespace=False, pattern=r"\S")]
Scalar = str | int | float | bool | None


def _check_uuid(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("must be a UUID") from None


def _check_content(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or whitespace")
    return value


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(description="The text to remember (UTF-8, at most JM_MAX_CONTENT_BYTES).")
    metadata: dict[str, Any] = Field(default_factory=dict, description="A JSON object; filters match its keys.")
    salience: float = Field(0.5, ge=0.0, le=1.0, description="Importance from 0 to 1.")
    id: str | None = Field(None, description="Client-chosen UUID, for idempotent retries.")
    created_at: float | None = Field(None, gt=0, description="Unix time; for imports and replication (default: now).")

    _content = field_validator("content")(_check_content)
    _id = field_validator("id")(_check_uuid)

    @field_validator("created_at")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class AddMemory(_Item):
    user_id: UserId


class BatchItem(_Item):
    pass


class AddBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId
    items: list[BatchItem] = Field(min_length=1, description="1 to JM_MAX_BATCH_ITEMS memories.")


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId
    query: str = Field(description="What to look for, matched by meaning.")
    k: int = Field(10, ge=1, le=100, description="How many results.")
    filters: dict[str, Scalar] | None = Field(None, description="Metadata key: value pairs that must all match.")

    _query = field_validator("query")(_check_content)


class Created(BaseModel):
    id: str
    user_id: str
    created_at: float


class CreatedBatch(BaseModel):
    ids: list[str]


class MemoryOut(BaseModel):
    id: str
    user_id: str
    content: str
    metadata: dict[str, Any]
    salience: float
    created_at: float


class MemoryPage(BaseModel):
    items: list[MemoryOut]
    next_cursor: str | None


class SearchHitOut(BaseModel):
    id: str
    content: str
    score: float
    metadata: dict[str, Any]
    tier: str = Field(description="stm (indexed), pending (vector not ready: scored lexically).")


class SearchOut(BaseModel):
    results: list[SearchHitOut]
    took_ms: float


class ErrorDetail(BaseModel):
    field: str | None
    message: str


class ErrorOut(BaseModel):
    detail: str
    errors: list[ErrorDetail] = Field(default_factory=list)
