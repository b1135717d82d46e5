"""The PostgreSQL schema of cluster mode, and the one function every group commit calls.

Cluster mode keeps the `memories` table of the PostgreSQL store (so a deployment can move between a
single instance over PostgreSQL and a cluster) and adds what replicas need to agree:

- `jm_user_versions`: one row per user; every change to a user's memories (add, delete, a vector
  landing) increments it in the same transaction, under the row's lock. Versions are therefore
  gapless and committed in order per user: a replica whose copy of a user is at version v is
  current exactly when the row says v, and catches up by reading the rows with `version > v`.
- `memories.version`: the user version of the row's last change; `deleted` marks a tombstone (kept
  `cluster_tombstone_retention_s` so replicas catch up incrementally; `purged_version` tells a
  replica older than the purge to reload the user instead).
- `memories.claimed_by` / `claim_expires`: the shared embedding queue. A row without a vector is
  claimed by the replica that wrote it; a claim whose lease expired (a dead replica, a failed model)
  is taken over by a live one (`FOR UPDATE SKIP LOCKED`).
- `jm_write(...)`: applies a whole group of writes (adds and deletes of many requests, many users)
  in one statement, so a group commit is one round trip. Requests are applied in order, each all or
  nothing: a request with a conflicting id writes nothing, and a later request of the same group
  sees an earlier one's rows (so two retries of one id in one group are one memory). It bumps each
  user's version once and notifies listeners (`jm_changes`: "version|commit time|user").
"""

from __future__ import annotations

CHANNEL = "jm_changes"

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
ALTER TABLE memories ADD COLUMN IF NOT EXISTS version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE memories ADD COLUMN IF NOT EXISTS content_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE memories ADD COLUMN IF NOT EXISTS deleted BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE memories ADD COLUMN IF NOT EXISTS deleted_at TIMESTAMPTZ;
ALTER TABLE memories ADD COLUMN IF NOT EXISTS queued_at TIMESTAMPTZ;
ALTER TABLE memories ADD COLUMN IF NOT EXISTS claimed_by TEXT;
ALTER TABLE memories ADD COLUMN IF NOT EXISTS claim_expires TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS memories_user_version ON memories (user_id, version);
CREATE INDEX IF NOT EXISTS memories_unembedded ON memories (claim_expires, queued_at)
    WHERE embedding IS NULL AND NOT deleted;
CREATE INDEX IF NOT EXISTS memories_tombstones ON memories (deleted_at) WHERE deleted;
CREATE TABLE IF NOT EXISTS jm_user_versions (
    user_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    purged_version BIGINT NOT NULL DEFAULT 0
);
"""

# One group commit. Items arrive ordered by request (p_req); a request's items are first checked
# (an id already used with other content: the whole request is a conflict and writes nothing), then
# applied. Returns one row per item: its status and, for an idempotent repeat, the stored memory.
WRITE_FUNCTION = """
CREATE OR REPLACE FUNCTION jm_write(
    p_req INT[], p_kind TEXT[], p_user TEXT[], p_id TEXT[], p_content TEXT[], p_metadata JSONB[],
    p_salience FLOAT8[], p_created FLOAT8[], p_replica TEXT, p_lease FLOAT8
) RETURNS TABLE (
    k INT, status TEXT, version BIGINT, content TEXT, metadata JSONB, salience FLOAT8, created_at FLOAT8
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n INT := coalesce(array_length(p_req, 1), 0);
    users TEXT[];
    versions BIGINT[];
    u TEXT;
    v BIGINT;
    i INT := 1;
    j INT;
    last INT;
    bad BOOLEAN;
    r RECORD;
BEGIN
    -- Bump every user of the group once, in user order (two groups never lock in opposite orders).
    FOR u IN SELECT DISTINCT x FROM unnest(p_user) AS x ORDER BY x LOOP
        INSERT INTO jm_user_versions AS uv (user_id, version) VALUES (u, 1)
            ON CONFLICT (user_id) DO UPDATE SET version = uv.version + 1
            RETURNING uv.version INTO v;
        users := users || u;
        versions := versions || v;
    END LOOP;
    WHILE i <= n LOOP
        last := i;
        WHILE last < n AND p_req[last + 1] = p_req[i] LOOP
            last := last + 1;
        END LOOP;
        v := versions[array_position(users, p_user[i])];
        bad := false;
        FOR j IN i..last LOOP  -- check: an add whose id holds other content makes the request a conflict
            IF p_kind[j] = 'add' THEN
                SELECT m.content, m.metadata, m.salience INTO r FROM memories m
                    WHERE m.user_id = p_user[j] AND m.id = p_id[j] AND NOT m.deleted FOR UPDATE;
                IF FOUND AND NOT (r.content = p_content[j] AND r.metadata = p_metadata[j]
                                  AND r.salience = p_salience[j]) THEN
                    bad := true;
                END IF;
            END IF;
        END LOOP;
        FOR j IN i..last LOOP
            IF bad THEN
                SELECT m.content IS NOT NULL AND NOT (m.content = p_content[j] AND m.metadata = p_metadata[j]
                       AND m.salience = p_salience[j]) AS differs INTO r
                    FROM memories m WHERE m.user_id = p_user[j] AND m.id = p_id[j] AND NOT m.deleted;
                k := j; status := CASE WHEN FOUND AND r.differs THEN 'conflict' ELSE 'skipped' END;
                version := NULL; content := NULL; metadata := NULL; salience := NULL; created_at := NULL;
                RETURN NEXT;
            ELSIF p_kind[j] = 'add' THEN
                SELECT m.content, m.metadata, m.salience, m.created_at, m.version INTO r FROM memories m
                    WHERE m.user_id = p_user[j] AND m.id = p_id[j] AND NOT m.deleted;
                IF FOUND THEN
                    k := j; status := 'existing'; version := r.version; content := r.content;
                    metadata := r.metadata; salience := r.salience; created_at := r.created_at;
                    RETURN NEXT;
                ELSE
                    INSERT INTO memories AS m (id, user_id, content, metadata, salience, created_at, embedding,
                                               model, version, content_version, deleted, deleted_at, queued_at,
                                               claimed_by, claim_expires)
                        VALUES (p_id[j], p_user[j], p_content[j], p_metadata[j], p_salience[j], p_created[j],
                                NULL, NULL, v, v, false, NULL, clock_timestamp(), p_replica,
                                clock_timestamp() + make_interval(secs => p_lease))
                        ON CONFLICT (user_id, id) DO UPDATE SET  -- only a tombstone can be here: revive it
                            content = excluded.content, metadata = excluded.metadata,
                            salience = excluded.salience, created_at = excluded.created_at, embedding = NULL,
                            model = NULL, version = v, content_version = v, deleted = false, deleted_at = NULL,
                            queued_at = excluded.queued_at, claimed_by = excluded.claimed_by,
                            claim_expires = excluded.claim_expires;
                    k := j; status := 'inserted'; version := v; content := NULL; metadata := NULL;
                    salience := NULL; created_at := p_created[j];
                    RETURN NEXT;
                END IF;
            ELSE
                UPDATE memories m SET deleted = true, deleted_at = clock_timestamp(), version = v,
                                      embedding = NULL, claimed_by = NULL, claim_expires = NULL
                    WHERE m.user_id = p_user[j] AND m.id = p_id[j] AND NOT m.deleted;
                k := j; status := CASE WHEN FOUND THEN 'deleted' ELSE 'missing' END; version := v;
                content := NULL; metadata := NULL; salience := NULL; created_at := NULL;
                RETURN NEXT;
            END IF;
        END LOOP;
        i := last + 1;
    END LOOP;
    FOR j IN 1..coalesce(array_length(users, 1), 0) LOOP
        PERFORM pg_notify('jm_changes', versions[j] || '|' || extract(epoch FROM clock_timestamp()) || '|' || users[j]);
    END LOOP;
END $$;
"""

# Vectors computed by a replica land on their rows, only if the content is still the one embedded
# (`content_version`) and the memory is not deleted; each touched user's version moves on once and is
# returned, so the replica that computed them can move its own copy on without reading them back.
VECTORS_FUNCTION = """
CREATE OR REPLACE FUNCTION jm_set_vectors(
    p_user TEXT[], p_id TEXT[], p_content_version BIGINT[], p_embedding BYTEA[], p_model TEXT
) RETURNS TABLE (user_id TEXT, version BIGINT) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u TEXT;
    v BIGINT;
BEGIN
    FOR u IN SELECT DISTINCT x FROM unnest(p_user) AS x ORDER BY x LOOP
        INSERT INTO jm_user_versions AS uv (user_id, version) VALUES (u, 1)
            ON CONFLICT ON CONSTRAINT jm_user_versions_pkey DO UPDATE SET version = uv.version + 1
            RETURNING uv.version INTO v;
        UPDATE memories m SET embedding = x.embedding, model = p_model, version = v,
                              claimed_by = NULL, claim_expires = NULL
            FROM unnest(p_user, p_id, p_content_version, p_embedding) AS x(user_id, id, cv, embedding)
            WHERE x.user_id = u AND m.user_id = u AND m.id = x.id AND m.content_version = x.cv AND NOT m.deleted;
        PERFORM pg_notify('jm_changes', v || '|' || extract(epoch FROM clock_timestamp()) || '|' || u);
        user_id := u;
        version := v;
        RETURN NEXT;
    END LOOP;
END $$;
"""

# A user's memories as of one snapshot, with the version that snapshot is at (a full load), or only
# the rows changed after a version (an incremental catch-up; tombstones included).
LOAD_USER = """
SELECT uv.version, uv.purged_version, m.id, m.content, m.metadata::text, m.salience, m.created_at, m.embedding,
       m.model, m.deleted, m.content_version
FROM (SELECT $1::text AS user_id) q
LEFT JOIN jm_user_versions uv ON uv.user_id = q.user_id
LEFT JOIN memories m ON m.user_id = q.user_id AND NOT m.deleted
"""
CHANGES_SINCE = """
SELECT uv.version, uv.purged_version, m.id, m.content, m.metadata::text, m.salience, m.created_at, m.embedding,
       m.model, m.deleted, m.content_version
FROM (SELECT $1::text AS user_id) q
LEFT JOIN jm_user_versions uv ON uv.user_id = q.user_id
LEFT JOIN memories m ON m.user_id = q.user_id AND m.version > $2
"""
VERSIONS = "SELECT user_id, version FROM jm_user_versions WHERE user_id = ANY($1::text[])"

# The shared embedding queue: claim rows nobody holds (or whose holder's lease expired), oldest first.
CLAIM_ORPHANS = """
UPDATE memories m SET claimed_by = $1, claim_expires = clock_timestamp() + make_interval(secs => $2)
FROM (
    SELECT user_id, id FROM memories
    WHERE embedding IS NULL AND NOT deleted AND (claim_expires IS NULL OR claim_expires < clock_timestamp())
    ORDER BY queued_at LIMIT $3
    FOR UPDATE SKIP LOCKED
) o
WHERE m.user_id = o.user_id AND m.id = o.id
RETURNING m.user_id, m.id, m.content, m.content_version
"""
QUEUE_STATE = """
SELECT count(*) FILTER (WHERE claim_expires >= clock_timestamp()) AS claimed,
       count(*) FILTER (WHERE claim_expires IS NULL OR claim_expires < clock_timestamp()) AS unclaimed,
       coalesce(extract(epoch FROM clock_timestamp() - min(queued_at)), 0) AS oldest
FROM memories WHERE embedding IS NULL AND NOT deleted
"""
# Tombstones older than the retention are removed; the users' purge horizon moves with them.
PURGE_TOMBSTONES = """
WITH gone AS (
    DELETE FROM memories WHERE deleted AND deleted_at < clock_timestamp() - make_interval(secs => $1)
    RETURNING user_id, version
)
UPDATE jm_user_versions uv SET purged_version = greatest(uv.purged_version, g.version)
FROM (SELECT user_id, max(version) AS version FROM gone GROUP BY user_id) g
WHERE uv.user_id = g.user_id
"""
