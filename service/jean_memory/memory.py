"""The memory record and the write operations that flow from the journal to the long-term store."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

from jean_memory import jsonutil

JsonObject = dict[str, Any]


@dataclass(slots=True)
class Memory:
    """One stored memory. `embedding` is float32 bytes, absent until the embedder has run."""

    id: str
    user_id: str
    content: str
    metadata: JsonObject
    salience: float
    created_at: float
    embedding: bytes | None = None
    model: str | None = None

    def fingerprint(self) -> str:
        """What makes two writes of one id the same write (idempotency): content and metadata."""
        return content_fingerprint(self.content, self.metadata, self.salience)

    def approx_bytes(self) -> int:
        """RAM this record costs in the short-term tier, for the memory budget (object overhead included)."""
        return 240 + len(self.content) + len(self.id) + len(self.user_id) + 64 * len(self.metadata)

    def row(self) -> tuple[Any, ...]:
        """The stored columns, in the order the journal and the SQLite store both use."""
        return (
            self.id,
            self.user_id,
            self.content,
            jsonutil.dumps_str(self.metadata),
            self.salience,
            self.created_at,
            self.embedding,
            self.model,
        )

    def public(self) -> JsonObject:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "content": self.content,
            "metadata": self.metadata,
            "salience": self.salience,
            "created_at": self.created_at,
        }


def memory_key(user_id: str, memory_id: str) -> str:
    """A memory's identity across users: ids are scoped by user (two users may use one UUID)."""
    return f"{user_id}\x00{memory_id}"


def content_fingerprint(content: str, metadata: JsonObject, salience: float) -> str:
    blob = jsonutil.dumps([content, metadata, salience], sort_keys=True)
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


@dataclass(slots=True)
class WriteOp:
    """A journaled change, shipped in order to the long-term store by the shuttle."""

    seq: int
    kind: Literal["upsert", "delete", "vector"]
    memory: Memory
    journaled_at: float = field(default=0.0)
