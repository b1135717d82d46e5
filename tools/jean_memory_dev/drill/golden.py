"""The drill's golden set: a few users, memories and searches of its own (never a benchmark's text), written
beside the stack before the service starts and seeded through the API as an operator seeds one
(docs/golden-set.md), so that the recall SLI has data in every drill and the `noisy_vectors` fault has
something to degrade.

Each memory holds three words no other memory of its user has, and its search two of them: with the
drill's lexical (hash) embedder every search finds its memory first, so recall@1 is exactly 1 while
ranking is sound, and under noise it falls to the share that noise alone puts first.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx

#: Replays every this many seconds: the fast burn windows' short ones (20 s, 30 s) hold several replays.
INTERVAL_S = 5.0
#: recall@1: the strictest reading of "the right memory comes back".
K = 1
USERS = ("drill-golden-1", "drill-golden-2")
MEMORIES = 40  # per user
QUERIES = 10  # per user
_NS = uuid.UUID("0c7d2a51-93e4-4b8e-a1f6-5d2e8c9b7a30")


def memory_id(user: str, i: int) -> str:
    return str(uuid.uuid5(_NS, f"{user}/{i}"))


def memories(user: str) -> list[dict[str, str]]:
    return [{"id": memory_id(user, i), "content": f"heron{i} cobalt{i} orchard{i}"} for i in range(MEMORIES)]


def write(path: Path) -> Path:
    """The NDJSON file the service reads (JM_GOLDEN_SET)."""
    step = MEMORIES // QUERIES
    lines = [
        json.dumps({"user_id": user, "query": f"orchard{i} heron{i}", "expected_ids": [memory_id(user, i)]})
        for user in USERS
        for i in range(0, MEMORIES, step)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# the fire drill's golden set (jean_memory_dev/drill/golden.py)\n" + "\n".join(lines) + "\n")
    return path


def env(path: Path, interval_s: float = INTERVAL_S) -> dict[str, str]:
    """The service settings that replay it."""
    return {"JM_GOLDEN_SET": str(write(path)), "JM_GOLDEN_INTERVAL_S": f"{interval_s:g}", "JM_GOLDEN_K": str(K)}


def seed(front: str, timeout_s: float = 60.0) -> None:
    """Add the golden users' memories with their ids (idempotent: seeding twice stores them once); a 429 or
    503 (the service still warming up) is retried until `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=front, timeout=30) as client:
        for user in USERS:
            while True:
                r = client.post("/v1/memories/batch", json={"user_id": user, "items": memories(user)})
                if r.status_code not in (429, 503) or time.monotonic() > deadline:
                    r.raise_for_status()
                    break
                time.sleep(0.25)
