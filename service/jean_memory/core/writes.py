"""What both modes' writes share: the requests (`NewMemory`, `Patch`), their outcome (`Stored`), the
`WriteOps` interface the API calls, and the checks and messages every implementation gives alike.

The acknowledgement path of an add is: admit (bounded backlogs), check idempotency, reserve the ids,
commit durably (embedded: the journal, `embedded/writes.py`; cluster: PostgreSQL, `cluster/writes.py`),
insert into the short-term tier, queue the embedding. The model never runs on it (unless the request
asked for deduplication, which needs the vector first). A 201 therefore means: durable, visible to get
and list at once, and searchable as soon as the vector lands (lexically scored until then, see `reads`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from jean_memory.core.dedupe import Verdict
from jean_memory.errors import NotFound
from jean_memory.filters import Filter
from jean_memory.memory import JsonObject, Memory, Scope
from jean_memory.telemetry.core import Telemetry, current_exemplar


@dataclass(slots=True)
class NewMemory:
    """A validated write request item."""

    content: str
    metadata: JsonObject
    salience: float
    id: str | None = None
    created_at: float | None = None
    expires_at: float | None = None
    agent_id: str | None = None
    run_id: str | None = None

    def memory(self, memory_id: str, user_id: str, now: float) -> Memory:
        """The memory this item makes, under `memory_id` (its own or one minted for it), written `now`
        unless it says when: one place for both modes, so a field added to an item reaches both."""
        return Memory(
            memory_id, user_id, self.content, self.metadata, self.salience, self.created_at or now,
            expires_at=self.expires_at, agent_id=self.agent_id, run_id=self.run_id,
        )  # fmt: skip


@dataclass(slots=True)
class Patch:
    """A validated update: None leaves a field as it is; `expires_at` applies only when `set_expiry`."""

    content: str | None = None
    metadata: JsonObject | None = None
    salience: float | None = None
    expires_at: float | None = None
    set_expiry: bool = False

    def apply(self, memory: Memory, now: float) -> Memory:
        """The memory with this patch applied, as its next revision (or unchanged: an idempotent repeat)."""
        changed = dataclasses.replace(
            memory,
            content=memory.content if self.content is None else self.content,
            metadata=memory.metadata if self.metadata is None else self.metadata,
            salience=memory.salience if self.salience is None else self.salience,
            expires_at=self.expires_at if self.set_expiry else memory.expires_at,
        )
        if changed.fingerprint() == memory.fingerprint():
            return memory
        same_text = changed.content == memory.content
        return dataclasses.replace(
            changed,
            revision=memory.revision + 1,
            updated_at=max(now, memory.updated_at or memory.created_at),
            embedding=memory.embedding if same_text else None,
            model=memory.model if same_text else None,
        )


@dataclass(slots=True)
class Stored:
    """One add's outcome: the memory now stored under the id, and whether it was a near-duplicate of an
    existing memory (then nothing was created and `memory` is that existing one)."""

    memory: Memory
    deduplicated: bool = False


class WriteOps(Protocol):
    """What the API calls to write (implemented by `Writes` and `ClusterWrites`, and by the
    fault-injecting wrapper)."""

    async def add(
        self, user_id: str, items: Sequence[NewMemory], mode: str = "single", dedupe: bool = False
    ) -> list[Stored]: ...

    async def update(self, user_id: str, memory_id: str, patch: Patch) -> Memory: ...

    async def delete(self, user_id: str, memory_id: str) -> None: ...

    async def forget(self, user_id: str, scope: Scope = ...) -> int: ...

    async def delete_matching(self, user_id: str, filters: Filter | None, scope: Scope = ...) -> int: ...


def id_field(mode: str, index: int) -> str:
    """The field a write error names: `id` for a single add, `items[3].id` in a batch."""
    return "id" if mode == "single" else f"items[{index}].id"


def not_found(memory_id: str) -> NotFound:
    return NotFound(f"id: no memory {memory_id} for this user", field="id")


def dedupe_outcomes(candidates: list[Memory], verdicts: list[Verdict]) -> tuple[list[int], dict[int, Stored]]:
    """Which candidates to create, and the outcome of those that duplicate a memory (stored, or an
    earlier item of the same request that is itself created or a duplicate)."""
    create: list[int] = []
    outcome: dict[int, Stored] = {}
    for n, verdict in enumerate(verdicts):
        if verdict.duplicate is not None:
            outcome[n] = Stored(verdict.duplicate, deduplicated=True)
        elif verdict.same_as is not None:
            earlier = outcome.get(verdict.same_as)
            outcome[n] = Stored(earlier.memory if earlier else candidates[verdict.same_as], deduplicated=True)
        else:
            create.append(n)
    return create, outcome


def observe_creation(telemetry: Telemetry, mode: str, start: float, user_id: str, items: Sequence[NewMemory]) -> None:
    """An add's time since `start`, in both modes alike: the creation histogram (with the trace as its
    exemplar), the window behind `/metrics/dashboard`, and the slow-operation log."""
    elapsed = time.perf_counter() - start
    telemetry.metrics.writes.creation_duration.labels(mode).observe(elapsed, current_exemplar())
    telemetry.window.record("creation", elapsed)
    telemetry.perf.maybe_log(
        f"memory_creation_{mode}", start, user_id, sum(len(i.content) for i in items), cache_hit=False
    )
