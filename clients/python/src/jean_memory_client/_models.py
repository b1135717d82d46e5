"""Typed answers of the service, and the item a caller adds. Plain dataclasses: parsing one costs
microseconds and needs no dependency. Fields the client does not know yet (a newer service's) are kept
in `extra` instead of being dropped, so an older client still shows them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Self

JsonObject = dict[str, Any]


def _split(cls: type, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keys `cls` names, and the rest."""
    names: frozenset[str] = cls.__dict__["_NAMES"]
    known = {k: v for k, v in data.items() if k in names}
    rest = {k: v for k, v in data.items() if k not in names}
    return known, rest


class _Open:
    """An answer that keeps the fields this client does not know yet in `extra` instead of dropping them (the
    dataclasses below that end in `extra`, marked `@_names`)."""

    __slots__ = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        known, rest = _split(cls, data)
        return cls(**known, extra=rest)  # type: ignore[call-arg]


def _names(cls: type) -> type:
    """Record the field names a dataclass parses (its `extra` apart), once, at class creation."""
    cls._NAMES = frozenset(f.name for f in fields(cls) if f.name != "extra")  # type: ignore[attr-defined]
    return cls


def new_id() -> str:
    """A client-chosen memory id: chosen before the first attempt, so every retry repeats it."""
    return str(uuid.uuid4())


@dataclass(slots=True)
class NewMemory:
    """A memory to add. Without `id`, the client chooses one (a UUID) before sending."""

    content: str
    metadata: JsonObject | None = None
    salience: float | None = None
    id: str | None = None
    created_at: float | None = None
    expires_at: float | None = None
    #: The memory's scope within its user: the agent and the run (session) it belongs to.
    agent_id: str | None = None
    run_id: str | None = None
    #: Fields this client does not name yet (a newer service's), sent as they are.
    extra: JsonObject | None = None

    def to_json(self) -> JsonObject:
        """The item as the service reads it, with an id (chosen now if there was none, and kept)."""
        if self.id is None:
            self.id = new_id()
        body: JsonObject = {"content": self.content, "id": self.id}
        if self.metadata is not None:
            body["metadata"] = self.metadata
        if self.salience is not None:
            body["salience"] = self.salience
        if self.created_at is not None:
            body["created_at"] = self.created_at
        if self.expires_at is not None:
            body["expires_at"] = self.expires_at
        if self.agent_id is not None:
            body["agent_id"] = self.agent_id
        if self.run_id is not None:
            body["run_id"] = self.run_id
        if self.extra:
            body.update(self.extra)
        return body


@_names
@dataclass(frozen=True, slots=True)
class Created(_Open):
    """The answer to an add: the memory's id; `deduplicated` when it names an existing near-duplicate."""

    id: str
    user_id: str
    created_at: float
    deduplicated: bool
    extra: JsonObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BatchCreated:
    """The answer to a batch add (or to `add_many`, over all its batches): ids in the items' order."""

    ids: list[str]
    deduplicated: list[bool]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(list(data["ids"]), list(data["deduplicated"]))


@_names
@dataclass(frozen=True, slots=True)
class Memory(_Open):
    """A memory's current version."""

    id: str
    user_id: str
    content: str
    metadata: JsonObject
    salience: float
    created_at: float
    updated_at: float
    expires_at: float | None
    version: int
    #: The agent and the run (session) the memory belongs to (None: unscoped).
    agent_id: str | None = None
    run_id: str | None = None
    extra: JsonObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a user's memories, newest first; `next_cursor` is None on the last page."""

    items: list[Memory]
    next_cursor: str | None

    def __iter__(self) -> Iterator[Memory]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls([Memory.from_json(m) for m in data["items"]], data.get("next_cursor"))


@_names
@dataclass(frozen=True, slots=True)
class Version(_Open):
    """One version of a memory: what an add, update, delete or expiry left."""

    version: int
    event: str
    at: float
    content: str
    metadata: JsonObject
    salience: float
    expires_at: float | None
    agent_id: str | None = None
    run_id: str | None = None
    extra: JsonObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class History:
    """Every version of a memory, oldest first."""

    id: str
    user_id: str
    versions: list[Version]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(data["id"], data["user_id"], [Version.from_json(v) for v in data["versions"]])


@_names
@dataclass(frozen=True, slots=True)
class SearchHit(_Open):
    """A search result; `tier` is `stm` (indexed) or `pending` (vector not ready yet: scored lexically);
    `score` is the fused relevance of hybrid search (or one leg's, by `mode`)."""

    id: str
    content: str
    score: float
    metadata: JsonObject
    tier: str
    #: Each leg's part of the score (`vector`, `lexical`, ...), when the search asked for `explain`.
    explain: JsonObject | None = None
    agent_id: str | None = None
    run_id: str | None = None
    extra: JsonObject = field(default_factory=dict)


#: The service's search modes.
Mode = Literal["hybrid", "vector", "lexical"]


@dataclass(frozen=True, slots=True)
class SearchResults:
    """The best `k` hits, best first, and the service's own time for the search."""

    results: list[SearchHit]
    took_ms: float

    def __iter__(self) -> Iterator[SearchHit]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls([SearchHit.from_json(h) for h in data["results"]], float(data["took_ms"]))


@_names
@dataclass(frozen=True, slots=True)
class ExportedMemory(_Open):
    """One line of an export; `as_item()` adds it again (to another service, or after a forget)."""

    id: str
    content: str
    metadata: JsonObject
    salience: float
    created_at: float
    expires_at: float | None
    version: int
    agent_id: str | None = None
    run_id: str | None = None
    extra: JsonObject = field(default_factory=dict)

    def as_item(self) -> NewMemory:
        return NewMemory(
            self.content, self.metadata, self.salience, self.id, self.created_at, self.expires_at,
            agent_id=self.agent_id, run_id=self.run_id, extra=dict(self.extra) or None,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Readiness:
    """`/readyz`: ready to serve, and each check the service made."""

    ready: bool
    checks: dict[str, bool]
