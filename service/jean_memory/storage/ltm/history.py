"""Every version of a memory, kept in the store of record beside the memories themselves.

The store appends one history row per journaled change it applies: `add` (revision 1), `update`
(revision > 1), `delete`, `expire`. Replaying a batch after a timeout appends nothing twice: a row
is identified by (user, id, revision, event, time). Forgetting a user removes their history too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jean_memory import jsonutil
from jean_memory.memory import JsonObject, WriteOp

#: The journal kinds that leave a history row.
RECORDED = ("upsert", "delete", "expire")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    revision: int
    event: str
    at: float
    content: str
    metadata: JsonObject
    salience: float
    expires_at: float | None
    agent_id: str | None = None
    run_id: str | None = None

    def public(self) -> JsonObject:
        return {
            "version": self.revision,
            "event": self.event,
            "at": self.at,
            "content": self.content,
            "metadata": self.metadata,
            "salience": self.salience,
            "expires_at": self.expires_at,
            "agent_id": self.agent_id,
            "run_id": self.run_id,
        }


def event_of(op: WriteOp) -> str:
    if op.kind == "upsert":
        return "add" if op.memory.revision <= 1 else "update"
    return op.kind


def time_of(op: WriteOp) -> float:
    """When the change happened: the version's own time for adds and updates, the journal's for the rest."""
    m = op.memory
    if op.kind == "upsert":
        return m.updated_at if m.updated_at is not None else m.created_at
    return op.journaled_at


def history_rows(ops: Sequence[WriteOp]) -> list[tuple[Any, ...]]:
    """(user_id, id, revision, event, at, content, metadata, salience, expires_at, agent_id, run_id) for each
    recorded op."""
    return [
        (
            op.memory.user_id,
            op.memory.id,
            op.memory.revision,
            event_of(op),
            time_of(op),
            op.memory.content,
            jsonutil.dumps_str(op.memory.metadata),
            op.memory.salience,
            op.memory.expires_at,
            op.memory.agent_id,
            op.memory.run_id,
        )
        for op in ops
        if op.kind in RECORDED
    ]


def entry_from_row(row: Sequence[Any]) -> HistoryEntry:
    """An entry from (revision, event, at, content, metadata, salience, expires_at, agent_id, run_id)."""
    revision, event, at, content, metadata, salience, expires_at, agent_id, run_id = row
    return HistoryEntry(revision, event, at, content, jsonutil.loads(metadata), salience, expires_at, agent_id, run_id)


def runs(ops: Sequence[WriteOp]) -> list[list[WriteOp]]:
    """Ordered ops cut into runs of one kind (a store applies each run as one statement)."""
    out: list[list[WriteOp]] = []
    for op in ops:
        if out and out[-1][0].kind == op.kind:
            out[-1].append(op)
        else:
            out.append([op])
    return out


def latest(run: Sequence[WriteOp]) -> list[WriteOp]:
    """The last op per memory of a run: the state to store (history keeps every one)."""
    last: dict[tuple[str, str], WriteOp] = {}
    for op in run:
        last[(op.memory.user_id, op.memory.id)] = op
    return list(last.values())
