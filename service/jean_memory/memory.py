"""The memory record and the write operations that flow from the journal to the long-term store."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from jean_memory import jsonutil

JsonObject = dict[str, Any]


#: Separates a tenant from a user id in the owner key; user ids cannot contain control characters.
TENANT_SEPARATOR = "\x1f"


def owner_key(tenant: str, user_id: str) -> str:
    """The internal owner of a user's memories: the user id, scoped by the API key's tenant.

    The default tenant ("") owns plain user ids, so data written before tenants existed stays its own.
    """
    return f"{tenant}{TENANT_SEPARATOR}{user_id}" if tenant else user_id


def public_user_id(owner: str) -> str:
    """The user id a client sent, without its tenant."""
    return owner.rpartition(TENANT_SEPARATOR)[2]


@dataclass(slots=True)
class Memory:
    """One stored memory. `embedding` is float32 bytes, absent until the embedder has run.

    `user_id` is the owner key (tenant-scoped, see `owner_key`). `revision` counts the memory's versions
    (1 when added, +1 per update: the API's `version`); `updated_at` is when the last version was written;
    `expires_at` (Unix seconds) is when it stops being returned, None for never. `agent_id` and `run_id`
    are the memory's scope within its user (mem0's agent and session): optional, stored as columns of their
    own (indexed), set when the memory is added and never moved by an update.
    """

    id: str
    user_id: str
    content: str
    metadata: JsonObject
    salience: float
    created_at: float
    embedding: bytes | None = None
    model: str | None = None
    revision: int = 1
    updated_at: float | None = None
    expires_at: float | None = None
    agent_id: str | None = None
    run_id: str | None = None

    def fingerprint(self) -> str:
        """What makes two writes of one id the same write (idempotency): content, metadata, salience, expiry
        and scope (a retry in another run is a conflict, as one with another text)."""
        return content_fingerprint(
            self.content, self.metadata, self.salience, self.expires_at, self.agent_id, self.run_id
        )

    @property
    def scope(self) -> Scope:
        return Scope(self.agent_id, self.run_id)

    def in_scope(self, scope: Scope) -> bool:
        """Whether the memory is in `scope` (each of its parts that is set must match)."""
        return (scope.agent_id is None or scope.agent_id == self.agent_id) and (
            scope.run_id is None or scope.run_id == self.run_id
        )

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def approx_bytes(self) -> int:
        """RAM this record costs in the short-term tier, for the memory budget (object overhead included)."""
        scope = len(self.agent_id or "") + len(self.run_id or "")
        return 240 + len(self.content) + len(self.id) + len(self.user_id) + 64 * len(self.metadata) + scope

    def row(self) -> tuple[Any, ...]:
        """The stored columns, in the order the journal and the SQLite store both use (`ROW_COLUMNS`)."""
        return (
            self.id,
            self.user_id,
            self.content,
            jsonutil.dumps_str(self.metadata),
            self.salience,
            self.created_at,
            self.embedding,
            self.model,
            self.revision,
            self.updated_at,
            self.expires_at,
            self.agent_id,
            self.run_id,
        )

    def public(self) -> JsonObject:
        return {
            "id": self.id,
            "user_id": public_user_id(self.user_id),
            "content": self.content,
            "metadata": self.metadata,
            "salience": self.salience,
            "created_at": self.created_at,
            "updated_at": self.updated_at if self.updated_at is not None else self.created_at,
            "expires_at": self.expires_at,
            "version": self.revision,
            "agent_id": self.agent_id,
            "run_id": self.run_id,
        }


#: The columns of `Memory.row()`, for the SQL that stores them.
ROW_COLUMNS = (
    "id, user_id, content, metadata, salience, created_at, embedding, model, revision, updated_at, expires_at,"
    " agent_id, run_id"
)
#: Placeholders for the columns of `ROW_COLUMNS`.
ROW_MARKS = ", ".join("?" * len(ROW_COLUMNS.split(",")))


def memory_from_row(row: Sequence[Any]) -> Memory:
    """A memory from the columns of `ROW_COLUMNS` (metadata as JSON text)."""
    (mid, user_id, content, metadata, salience, created_at, embedding, model, revision, updated_at, expires_at,
     agent_id, run_id) = row  # fmt: skip
    return Memory(
        mid, user_id, content, jsonutil.loads(metadata), salience, created_at, embedding, model,
        revision or 1, updated_at, expires_at, agent_id, run_id,
    )  # fmt: skip


def memory_key(user_id: str, memory_id: str) -> str:
    """A memory's identity across users: ids are scoped by user (two users may use one UUID)."""
    return f"{user_id}\x00{memory_id}"


def content_fingerprint(
    content: str,
    metadata: JsonObject,
    salience: float,
    expires_at: float | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
) -> str:
    parts: list[Any] = [content, metadata, salience, expires_at]
    if agent_id is not None or run_id is not None:  # an unscoped memory's fingerprint is as before
        parts += [agent_id, run_id]
    blob = jsonutil.dumps(parts, sort_keys=True)
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


#: What a journaled change does: upsert, an add or an update (its revision says which); delete and expire,
#: the memory goes; vector, a vector for a row the store holds; forget, every memory of the user goes (the
#: memory's id is empty). One type for the journal's rows and the operations read back from them.
WriteKind = Literal["upsert", "delete", "expire", "vector", "forget"]


@dataclass(frozen=True, slots=True)
class Scope:
    """A part of a user's memories: those of one agent and/or one run (None: any). The empty scope is all
    of them."""

    agent_id: str | None = None
    run_id: str | None = None

    def __bool__(self) -> bool:
        return self.agent_id is not None or self.run_id is not None


#: Every memory of the user.
ALL = Scope()


@dataclass(slots=True)
class WriteOp:
    """A journaled change, shipped in order to the long-term store by the shuttle."""

    seq: int
    kind: WriteKind
    memory: Memory
    journaled_at: float = field(default=0.0)


def same_version(a: Memory | None, b: Memory | None) -> bool:
    """Whether two copies are one version of one memory (object identity does not survive a re-read)."""
    if a is b:
        return True
    if a is None or b is None:
        return False
    return (a.id, a.revision, a.content, a.created_at) == (b.id, b.revision, b.content, b.created_at)
