"""JSON for stored metadata: fast (orjson) where it can be, exact where it must be.

orjson refuses integers beyond 64 bits when writing and turns them into floats when reading, but a
client's metadata is JSON and JSON has no such limit. Writing falls back to the standard library for
those rare values, and stored metadata is read back with the standard library, so what a client
stored is exactly what it gets back (and an idempotent repeat still matches after a restart).
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else 0)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(
            value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()


def dumps_str(value: Any) -> str:
    return dumps(value).decode()


def loads(text: str | bytes) -> Any:
    return json.loads(text)
