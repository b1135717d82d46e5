"""The list cursor: an opaque-looking position, `<created_at>_<id>`, that every page hands back.

A cursor names the last item of a page, so the next page is "strictly older than this", stable
under concurrent writes (no offsets that shift). Every string matching `CURSOR_PATTERN` is a valid
cursor; anything else is a 422 naming the `cursor` field.
"""

from __future__ import annotations

from jean_memory.memory import Memory

CURSOR_PATTERN = r"^[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def parse_cursor(cursor: str) -> tuple[float, str]:
    created_at, _, memory_id = cursor.partition("_")
    return float(created_at), memory_id


def make_cursor(memory: Memory) -> str:
    return f"{memory.created_at!r}_{memory.id}"
