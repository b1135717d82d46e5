"""A data folder written by the release before scopes (no `agent_id` / `run_id` columns in the journal, the
store or the history) is migrated in place on start: every memory, shipped or still in the journal, and
every history row is kept (unscoped), the new columns and their indexes exist, and scoped writes work on
it across a restart. Real SQLite files, a real service process."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx

from tests.conftest import StartService

#: The previous release's journal and store tables, verbatim (storage/journal.py, storage/ltm/sqlite.py).
PREVIOUS_JOURNAL = """
CREATE TABLE journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, id TEXT NOT NULL, user_id TEXT NOT NULL,
    content TEXT NOT NULL, metadata TEXT NOT NULL, salience REAL NOT NULL, created_at REAL NOT NULL,
    embedding BLOB, model TEXT, journaled_at REAL NOT NULL, revision INTEGER NOT NULL DEFAULT 1,
    updated_at REAL, expires_at REAL
);
CREATE INDEX journal_user ON journal(user_id);
CREATE TABLE dead_letter (
    seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, id TEXT NOT NULL, user_id TEXT NOT NULL, content TEXT NOT NULL,
    metadata TEXT NOT NULL, salience REAL NOT NULL, created_at REAL NOT NULL, error TEXT NOT NULL,
    parked_at REAL NOT NULL
);
"""
PREVIOUS_STORE = """
CREATE TABLE memories (
    id TEXT NOT NULL, user_id TEXT NOT NULL, content TEXT NOT NULL, metadata TEXT NOT NULL, salience REAL NOT NULL,
    created_at REAL NOT NULL, embedding BLOB, model TEXT, revision INTEGER NOT NULL DEFAULT 1, updated_at REAL,
    expires_at REAL, seq INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (user_id, id)
);
CREATE INDEX memories_user ON memories(user_id, created_at);
CREATE INDEX memories_created ON memories(created_at);
CREATE TABLE memory_history (
    user_id TEXT NOT NULL, id TEXT NOT NULL, revision INTEGER NOT NULL, event TEXT NOT NULL, at REAL NOT NULL,
    content TEXT NOT NULL, metadata TEXT NOT NULL, salience REAL NOT NULL, expires_at REAL,
    UNIQUE (user_id, id, revision, event, at)
);
CREATE INDEX memories_expiry ON memories(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX memories_user_seq ON memories(user_id, seq);
CREATE INDEX memories_user_order ON memories(user_id, created_at, id);
"""
SHIPPED = "0b7e4a52-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
UNSHIPPED = "1c8f5b63-2d4e-4f60-9bac-1d2e3f4a5b6c"


def _previous_release_folder(data: Path) -> None:
    data.mkdir(parents=True)
    with sqlite3.connect(data / "ltm.db") as conn:
        conn.executescript(PREVIOUS_STORE)
        conn.execute(
            "INSERT INTO memories (id, user_id, content, metadata, salience, created_at, seq)"
            " VALUES (?, 'u', 'the old shipped memory about the harbour', '{}', 0.5, 1000.0, 1)",
            (SHIPPED,),
        )
        conn.execute(
            "INSERT INTO memory_history VALUES (?, ?, 1, 'add', 1000.0, 'the old shipped memory about the harbour',"
            " '{}', 0.5, NULL)",
            ("u", SHIPPED),
        )
    with sqlite3.connect(data / "journal.db") as conn:
        conn.executescript(PREVIOUS_JOURNAL)
        conn.execute(
            "INSERT INTO journal (kind, id, user_id, content, metadata, salience, created_at, journaled_at)"
            " VALUES ('upsert', ?, 'u', 'the old unshipped memory about the harbour', '{}', 0.5, 1001.0, ?)",
            (UNSHIPPED, time.time()),
        )


def _columns(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def test_a_data_folder_of_the_previous_release_gains_scopes_in_place(
    start_service: StartService, tmp_path: Path
) -> None:
    data = tmp_path / "old"
    _previous_release_folder(data)
    service = start_service(data_dir=data)
    with httpx.Client(base_url=service.url, timeout=30) as c:
        items = c.get("/v1/memories", params={"user_id": "u"}).json()["items"]
        assert {(m["id"], m["agent_id"], m["run_id"]) for m in items} == {
            (SHIPPED, None, None),
            (UNSHIPPED, None, None),
        }
        versions = c.get(f"/v1/memories/{SHIPPED}/history", params={"user_id": "u"}).json()["versions"]
        assert [(v["event"], v["run_id"]) for v in versions] == [("add", None)]
        scoped = c.post("/v1/memories", json={"user_id": "u", "content": "a new memory about the harbour",
                                              "run_id": "s1", "agent_id": "bot"}).json()["id"]  # fmt: skip
    assert {"agent_id", "run_id"} <= _columns(data / "journal.db", "journal")
    assert {"agent_id", "run_id"} <= _columns(data / "journal.db", "dead_letter")
    assert {"agent_id", "run_id"} <= _columns(data / "ltm.db", "memories")
    assert {"agent_id", "run_id"} <= _columns(data / "ltm.db", "memory_history")
    with sqlite3.connect(data / "ltm.db") as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"memories_user_run", "memories_user_agent"} <= indexes
    service.stop()
    service.start()
    with httpx.Client(base_url=service.url, timeout=30) as c:
        every = c.post("/v1/search", json={"user_id": "u", "query": "harbour", "k": 10}).json()["results"]
        assert {h["id"] for h in every} == {SHIPPED, UNSHIPPED, scoped}
        only = c.post("/v1/search", json={"user_id": "u", "query": "harbour", "k": 10, "run_id": "s1"}).json()
        assert [(h["id"], h["agent_id"]) for h in only["results"]] == [(scoped, "bot")]
        assert c.delete("/v1/memories", params={"user_id": "u", "run_id": "s1"}).json()["forgotten"] == 1
        left = c.get("/v1/memories", params={"user_id": "u"}).json()["items"]
        assert {m["id"] for m in left} == {SHIPPED, UNSHIPPED}
