"""Writes reach the store in order, one row per id per run."""

from __future__ import annotations

from jean_memory.memory import Memory, WriteOp
from jean_memory.storage.ltm.base import last_write_wins


def op(seq: int, kind: str, mid: str, content: str = "c") -> WriteOp:
    return WriteOp(seq, kind, Memory(mid, "u", content, {}, 0.5, 1.0))  # type: ignore[arg-type]


def test_runs_keep_order_and_last_write() -> None:
    runs = last_write_wins(
        [
            op(1, "upsert", "a", "v1"),
            op(2, "upsert", "a", "v2"),
            op(3, "upsert", "b"),
            op(4, "delete", "a"),
            op(5, "upsert", "a", "v3"),
        ]
    )
    assert [[(o.kind, o.memory.id, o.memory.content) for o in run] for run in runs] == [
        [("upsert", "a", "v2"), ("upsert", "b", "c")],
        [("delete", "a", "c")],
        [("upsert", "a", "v3")],
    ]
