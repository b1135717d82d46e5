"""The PostgreSQL tables every mode shares: `memories` (the store of record) and `memory_history`.

A single instance over PostgreSQL (the shuttle's `PostgresStore`) and cluster mode use the same
tables, so a deployment can move between them; cluster mode adds its own columns and functions
(`cluster/schema.py`). Every statement is idempotent: replicas and restarts run them at every start.
"""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS memories (
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    content TEXT NOT NULL,
    metadata JSONB NOT NULL,
    salience DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    embedding BYTEA,
    model TEXT,
    PRIMARY KEY (user_id, id)
);
ALTER TABLE memories ADD COLUMN IF NOT EXISTS revision BIGINT NOT NULL DEFAULT 1;
ALTER TABLE memories ADD COLUMN IF NOT EXISTS updated_at DOUBLE PRECISION;
ALTER TABLE memories ADD COLUMN IF NOT EXISTS expires_at DOUBLE PRECISION;
ALTER TABLE memories ADD COLUMN IF NOT EXISTS deleted BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE memories ADD COLUMN IF NOT EXISTS agent_id TEXT;
ALTER TABLE memories ADD COLUMN IF NOT EXISTS run_id TEXT;
CREATE INDEX IF NOT EXISTS memories_user ON memories(user_id, created_at);
CREATE INDEX IF NOT EXISTS memories_created ON memories(created_at);
CREATE INDEX IF NOT EXISTS memories_expiry ON memories(expires_at) WHERE expires_at IS NOT NULL AND NOT deleted;
CREATE TABLE IF NOT EXISTS memory_history (
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    revision BIGINT NOT NULL,
    event TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    content TEXT NOT NULL,
    metadata JSONB NOT NULL,
    salience DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION,
    UNIQUE (user_id, id, revision, event, at)
);
ALTER TABLE memory_history ADD COLUMN IF NOT EXISTS agent_id TEXT;
ALTER TABLE memory_history ADD COLUMN IF NOT EXISTS run_id TEXT;
CREATE INDEX IF NOT EXISTS memories_user_run ON memories(user_id, run_id) WHERE run_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS memories_user_agent ON memories(user_id, agent_id) WHERE agent_id IS NOT NULL;
"""
#: Stores made before ids were scoped by user were keyed by `id` alone; re-key them (idempotent).
MIGRATE_KEY = """
DO $$
BEGIN
    IF (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = 'memories'::regclass AND i.indisprimary) = ARRAY['id'] THEN
        ALTER TABLE memories DROP CONSTRAINT memories_pkey, ADD PRIMARY KEY (user_id, id);
    END IF;
END $$;
"""
#: The columns of `Memory.row()` as PostgreSQL returns them (metadata as JSON text).
SELECT = (
    "SELECT id, user_id, content, metadata::text, salience, created_at, embedding, model, revision, updated_at,"
    " expires_at, agent_id, run_id FROM memories"
)
HISTORY = """
SELECT revision, event, at, content, metadata::text, salience, expires_at, agent_id, run_id FROM memory_history
WHERE user_id = $1 AND id = $2 ORDER BY at, revision
"""
