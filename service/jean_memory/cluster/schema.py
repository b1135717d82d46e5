"""The PostgreSQL schema of cluster mode, and the one function every group commit calls.

Cluster mode keeps the `memories` table of the PostgreSQL store (so a deployment can move between a
single instance over PostgreSQL and a cluster) and adds what replicas need to agree:

- `jm_user_versions`: one row per user; every change to a user's memories (add, delete, a vector
  landing) increments it in the same transaction, under the row's lock. Versions are therefore
  gapless and committed in order per user: a replica whose copy of a user is at version v is
  current exactly when the row says v, and catches up by reading the rows with `version > v`.
- `memories.version`: the user version of the row's last change (`content_version` is no longer read:
  a vector is bound to its text's MD5, see `jm_store_vectors`; the column stays for replicas of the
  previous release during a rolling upgrade); `deleted` marks a tombstone (kept
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

from jean_memory.storage.ltm.pgschema import SCHEMA as STORE_SCHEMA

CHANNEL = "jm_changes"

SCHEMA = (
    STORE_SCHEMA
    + """
ALTER TABLE memories ADD COLUMN IF NOT EXISTS version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE memories ADD COLUMN IF NOT EXISTS content_version BIGINT NOT NULL DEFAULT 0;
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
)

# One group commit. Items arrive ordered by request (p_req); a request's items are first checked (an
# add whose id holds other content: the whole request is a conflict and writes nothing), then applied.
# Kinds: add, update (NULL fields are unchanged; p_set_expiry says whether expires_at is set), delete,
# forget (every memory and version of the user; with p_agent and/or p_run, only that scope's memories,
# each deleted as a delete is). An add's scope (p_agent, p_run) is part of what makes a retry the same
# write. Each change leaves a history row. Returns one row per item: its status, the user's version after
# the commit, the memory as stored (for repeats and updates) and, for a forget, how many memories went.
# The previous release's 12-argument jm_write is left in place for its replicas during a rolling upgrade.
WRITE_FUNCTION = """
CREATE OR REPLACE FUNCTION jm_write(
    p_req INT[], p_kind TEXT[], p_user TEXT[], p_id TEXT[], p_content TEXT[], p_metadata JSONB[],
    p_salience FLOAT8[], p_time FLOAT8[], p_expires FLOAT8[], p_set_expiry BOOLEAN[], p_replica TEXT, p_lease FLOAT8,
    p_agent TEXT[], p_run TEXT[]
) RETURNS TABLE (
    k INT, status TEXT, version BIGINT, revision BIGINT, content TEXT, metadata JSONB, salience FLOAT8,
    created_at FLOAT8, updated_at FLOAT8, expires_at FLOAT8, n BIGINT, agent_id TEXT, run_id TEXT
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    cnt INT := coalesce(array_length(p_req, 1), 0);
    users TEXT[];
    versions BIGINT[];
    u TEXT;
    v BIGINT;
    i INT := 1;
    j INT;
    last INT;
    bad BOOLEAN;
    r RECORD;
    new_content TEXT;
    new_metadata JSONB;
    new_salience FLOAT8;
    new_expires FLOAT8;
    now_epoch FLOAT8;
BEGIN
    -- Bump every user of the group once, in user order (two groups never lock in opposite orders).
    FOR u IN SELECT DISTINCT x FROM unnest(p_user) AS x ORDER BY x LOOP
        INSERT INTO jm_user_versions AS uv (user_id, version) VALUES (u, 1)
            ON CONFLICT (user_id) DO UPDATE SET version = uv.version + 1
            RETURNING uv.version INTO v;
        users := users || u;
        versions := versions || v;
    END LOOP;
    WHILE i <= cnt LOOP
        last := i;
        WHILE last < cnt AND p_req[last + 1] = p_req[i] LOOP
            last := last + 1;
        END LOOP;
        v := versions[array_position(users, p_user[i])];
        bad := false;
        FOR j IN i..last LOOP  -- check: an add whose id holds other content makes the request a conflict
            IF p_kind[j] = 'add' THEN
                SELECT m.content, m.metadata, m.salience, m.expires_at, m.agent_id, m.run_id INTO r FROM memories m
                    WHERE m.user_id = p_user[j] AND m.id = p_id[j] AND NOT m.deleted FOR UPDATE;
                IF FOUND AND NOT (r.content = p_content[j] AND r.metadata = p_metadata[j] AND r.salience = p_salience[j]
                                  AND r.expires_at IS NOT DISTINCT FROM p_expires[j]
                                  AND r.agent_id IS NOT DISTINCT FROM p_agent[j]
                                  AND r.run_id IS NOT DISTINCT FROM p_run[j]) THEN
                    bad := true;
                END IF;
            END IF;
        END LOOP;
        FOR j IN i..last LOOP
            k := j; version := v; revision := NULL; content := NULL; metadata := NULL; salience := NULL;
            created_at := NULL; updated_at := NULL; expires_at := NULL; n := NULL; agent_id := NULL; run_id := NULL;
            now_epoch := extract(epoch FROM clock_timestamp());
            IF bad THEN
                SELECT m.content IS NOT NULL AND NOT (m.content = p_content[j] AND m.metadata = p_metadata[j]
                       AND m.salience = p_salience[j] AND m.expires_at IS NOT DISTINCT FROM p_expires[j]
                       AND m.agent_id IS NOT DISTINCT FROM p_agent[j]
                       AND m.run_id IS NOT DISTINCT FROM p_run[j]) AS differs
                    INTO r FROM memories m WHERE m.user_id = p_user[j] AND m.id = p_id[j] AND NOT m.deleted;
                status := CASE WHEN FOUND AND r.differs THEN 'conflict' ELSE 'skipped' END;
                version := NULL;
                RETURN NEXT;
            ELSIF p_kind[j] = 'add' THEN
                SELECT m.* INTO r FROM memories m WHERE m.user_id = p_user[j] AND m.id = p_id[j] AND NOT m.deleted;
                IF FOUND THEN
                    status := 'existing'; revision := r.revision; content := r.content; metadata := r.metadata;
                    salience := r.salience; created_at := r.created_at; updated_at := r.updated_at;
                    expires_at := r.expires_at; agent_id := r.agent_id; run_id := r.run_id;
                    RETURN NEXT;
                ELSE
                    INSERT INTO memories AS m (id, user_id, content, metadata, salience, created_at, embedding, model,
                                               revision, updated_at, expires_at, version, content_version, deleted,
                                               deleted_at, queued_at, claimed_by, claim_expires, agent_id, run_id)
                        VALUES (p_id[j], p_user[j], p_content[j], p_metadata[j], p_salience[j], p_time[j], NULL, NULL,
                                1, NULL, p_expires[j], v, v, false, NULL, clock_timestamp(), p_replica,
                                clock_timestamp() + make_interval(secs => p_lease), p_agent[j], p_run[j])
                        ON CONFLICT (user_id, id) DO UPDATE SET  -- only a tombstone can be here: revive it
                            content = excluded.content, metadata = excluded.metadata,
                            salience = excluded.salience, created_at = excluded.created_at, embedding = NULL,
                            model = NULL, revision = 1, updated_at = NULL, expires_at = excluded.expires_at,
                            version = v, content_version = v, deleted = false, deleted_at = NULL,
                            queued_at = excluded.queued_at, claimed_by = excluded.claimed_by,
                            claim_expires = excluded.claim_expires, agent_id = excluded.agent_id,
                            run_id = excluded.run_id;
                    INSERT INTO memory_history VALUES (p_user[j], p_id[j], 1, 'add', p_time[j], p_content[j],
                                                       p_metadata[j], p_salience[j], p_expires[j], p_agent[j], p_run[j])
                        ON CONFLICT DO NOTHING;
                    status := 'inserted'; revision := 1; created_at := p_time[j]; agent_id := p_agent[j];
                    run_id := p_run[j];
                    RETURN NEXT;
                END IF;
            ELSIF p_kind[j] = 'update' THEN
                SELECT m.* INTO r FROM memories m
                    WHERE m.user_id = p_user[j] AND m.id = p_id[j] AND NOT m.deleted
                          AND (m.expires_at IS NULL OR m.expires_at > now_epoch) FOR UPDATE;
                IF NOT FOUND THEN
                    status := 'missing';
                    RETURN NEXT;
                    CONTINUE;
                END IF;
                new_content := coalesce(p_content[j], r.content);
                new_metadata := coalesce(p_metadata[j], r.metadata);
                new_salience := coalesce(p_salience[j], r.salience);
                new_expires := CASE WHEN p_set_expiry[j] THEN p_expires[j] ELSE r.expires_at END;
                IF new_content = r.content AND new_metadata = r.metadata AND new_salience = r.salience
                   AND new_expires IS NOT DISTINCT FROM r.expires_at THEN
                    status := 'unchanged'; revision := r.revision;
                ELSE
                    UPDATE memories m SET content = new_content, metadata = new_metadata, salience = new_salience,
                        expires_at = new_expires, revision = r.revision + 1,
                        updated_at = greatest(p_time[j], coalesce(r.updated_at, r.created_at)), version = v,
                        content_version = CASE WHEN new_content = r.content THEN m.content_version ELSE v END,
                        embedding = CASE WHEN new_content = r.content THEN m.embedding ELSE NULL END,
                        model = CASE WHEN new_content = r.content THEN m.model ELSE NULL END,
                        queued_at = CASE WHEN new_content = r.content THEN m.queued_at ELSE clock_timestamp() END,
                        claimed_by = CASE WHEN new_content = r.content THEN m.claimed_by ELSE p_replica END,
                        claim_expires = CASE WHEN new_content = r.content THEN m.claim_expires
                                             ELSE clock_timestamp() + make_interval(secs => p_lease) END
                        WHERE m.user_id = p_user[j] AND m.id = p_id[j];
                    INSERT INTO memory_history VALUES (p_user[j], p_id[j], r.revision + 1, 'update',
                        greatest(p_time[j], coalesce(r.updated_at, r.created_at)), new_content, new_metadata,
                        new_salience, new_expires, r.agent_id, r.run_id) ON CONFLICT DO NOTHING;
                    status := 'updated'; revision := r.revision + 1;
                END IF;
                SELECT m.content, m.metadata, m.salience, m.created_at, m.updated_at, m.expires_at, m.agent_id, m.run_id
                    INTO content, metadata, salience, created_at, updated_at, expires_at, agent_id, run_id
                    FROM memories m WHERE m.user_id = p_user[j] AND m.id = p_id[j];
                RETURN NEXT;
            ELSIF p_kind[j] = 'delete' THEN
                UPDATE memories m SET deleted = true, deleted_at = clock_timestamp(), version = v,
                                      embedding = NULL, claimed_by = NULL, claim_expires = NULL
                    WHERE m.user_id = p_user[j] AND m.id = p_id[j] AND NOT m.deleted
                          AND (m.expires_at IS NULL OR m.expires_at > now_epoch)
                    RETURNING m.revision, m.content, m.metadata, m.salience, m.expires_at, m.agent_id, m.run_id INTO r;
                IF FOUND THEN
                    INSERT INTO memory_history VALUES (p_user[j], p_id[j], r.revision, 'delete', now_epoch,
                        r.content, r.metadata, r.salience, r.expires_at, r.agent_id, r.run_id) ON CONFLICT DO NOTHING;
                    status := 'deleted';
                ELSE
                    status := 'missing';
                END IF;
                RETURN NEXT;
            ELSIF p_agent[j] IS NOT NULL OR p_run[j] IS NOT NULL THEN
                -- forget a scope: each of its memories deleted as a delete is (a tombstone and a history row),
                -- so replicas catch up incrementally; the user's other memories stay
                WITH gone AS (
                    UPDATE memories m SET deleted = true, deleted_at = clock_timestamp(), version = v,
                                          embedding = NULL, claimed_by = NULL, claim_expires = NULL
                        WHERE m.user_id = p_user[j] AND NOT m.deleted
                              AND (p_agent[j] IS NULL OR m.agent_id = p_agent[j])
                              AND (p_run[j] IS NULL OR m.run_id = p_run[j])
                        RETURNING m.user_id, m.id, m.revision, m.content, m.metadata, m.salience, m.expires_at,
                                  m.agent_id, m.run_id
                ), history AS (
                    INSERT INTO memory_history SELECT g.user_id, g.id, g.revision, 'delete', now_epoch, g.content,
                        g.metadata, g.salience, g.expires_at, g.agent_id, g.run_id FROM gone g ON CONFLICT DO NOTHING
                )
                SELECT count(*) FILTER (WHERE g.expires_at IS NULL OR g.expires_at > now_epoch) INTO n FROM gone g;
                status := 'forgotten';
                RETURN NEXT;
            ELSE  -- forget: the user's memories and their history go; replicas reload (purge horizon)
                SELECT count(*) INTO n FROM memories m WHERE m.user_id = p_user[j] AND NOT m.deleted
                    AND (m.expires_at IS NULL OR m.expires_at > now_epoch);
                DELETE FROM memories m WHERE m.user_id = p_user[j];
                DELETE FROM memory_history h WHERE h.user_id = p_user[j];
                UPDATE jm_user_versions uv SET purged_version = v WHERE uv.user_id = p_user[j];
                status := 'forgotten';
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

# Expired memories become tombstones, a user at a time (the user's version row locked first, as every
# writer does, so a sweep never deadlocks with a group commit), with an `expire` history row each.
EXPIRE_FUNCTION = """
CREATE OR REPLACE FUNCTION jm_expire(p_limit INT) RETURNS BIGINT LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u TEXT;
    v BIGINT;
    now_epoch FLOAT8 := extract(epoch FROM clock_timestamp());
    removed BIGINT := 0;
    changed BIGINT;
BEGIN
    FOR u IN SELECT DISTINCT m.user_id FROM memories m
             WHERE NOT m.deleted AND m.expires_at IS NOT NULL AND m.expires_at <= now_epoch
             ORDER BY m.user_id LIMIT p_limit LOOP
        INSERT INTO jm_user_versions AS uv (user_id, version) VALUES (u, 1)
            ON CONFLICT (user_id) DO UPDATE SET version = uv.version + 1
            RETURNING uv.version INTO v;
        WITH gone AS (
            UPDATE memories m SET deleted = true, deleted_at = clock_timestamp(), version = v, embedding = NULL,
                                  claimed_by = NULL, claim_expires = NULL
            WHERE m.user_id = u AND NOT m.deleted AND m.expires_at IS NOT NULL AND m.expires_at <= now_epoch
            RETURNING m.user_id, m.id, m.revision, m.content, m.metadata, m.salience, m.expires_at, m.agent_id,
                      m.run_id
        ), history AS (
            INSERT INTO memory_history SELECT g.user_id, g.id, g.revision, 'expire', now_epoch, g.content,
                g.metadata, g.salience, g.expires_at, g.agent_id, g.run_id FROM gone g ON CONFLICT DO NOTHING
        )
        SELECT count(*) INTO changed FROM gone;
        removed := removed + changed;
        PERFORM pg_notify('jm_changes', v || '|' || extract(epoch FROM clock_timestamp()) || '|' || u);
    END LOOP;
    RETURN removed;
END $$;
"""

# Vectors computed by a replica land on their rows only if the row still holds exactly the text each
# was computed from (its MD5, so no counter shared by several changes can let an older text's vector
# onto a newer row) and the memory is not deleted. A user's version moves on once, and only when a
# vector landed; it is returned with how many were stored and refused, so the replica that computed
# them can move its own copy on without reading them back.
VECTORS_FUNCTION = """
DROP FUNCTION IF EXISTS jm_set_vectors(TEXT[], TEXT[], BIGINT[], BYTEA[], TEXT);
CREATE OR REPLACE FUNCTION jm_store_vectors(
    p_user TEXT[], p_id TEXT[], p_content_md5 TEXT[], p_embedding BYTEA[], p_model TEXT
) RETURNS TABLE (user_id TEXT, version BIGINT, stored BIGINT, refused BIGINT) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u TEXT;
    v BIGINT;
    n BIGINT;
BEGIN
    FOR u IN SELECT DISTINCT x FROM unnest(p_user) AS x ORDER BY x LOOP
        SELECT uv.version INTO v FROM jm_user_versions uv WHERE uv.user_id = u FOR UPDATE;
        n := 0;
        IF FOUND THEN
            UPDATE memories m SET embedding = x.embedding, model = p_model, version = v + 1,
                                  claimed_by = NULL, claim_expires = NULL
                FROM unnest(p_user, p_id, p_content_md5, p_embedding) AS x(user_id, id, md5, embedding)
                WHERE x.user_id = u AND m.user_id = u AND m.id = x.id AND md5(m.content) = x.md5 AND NOT m.deleted;
            GET DIAGNOSTICS n = ROW_COUNT;
        END IF;
        user_id := u;
        version := NULL;
        IF n > 0 THEN
            UPDATE jm_user_versions uv SET version = v + 1 WHERE uv.user_id = u;
            PERFORM pg_notify('jm_changes', (v + 1) || '|' || extract(epoch FROM clock_timestamp()) || '|' || u);
            version := v + 1;
        END IF;
        SELECT count(*) FILTER (WHERE m.id IS NOT NULL), count(*) FILTER (WHERE m.id IS NULL) INTO stored, refused
            FROM unnest(p_user, p_id, p_content_md5) AS x(user_id, id, md5)
            LEFT JOIN memories m ON m.user_id = u AND m.id = x.id AND md5(m.content) = x.md5 AND NOT m.deleted
            WHERE x.user_id = u;
        RETURN NEXT;
    END LOOP;
END $$;
"""

# A user's memories as of one snapshot, with the version that snapshot is at (a full load), or only
# the rows changed after a version (an incremental catch-up; tombstones included).
LOAD_USER = """
SELECT uv.version, uv.purged_version, m.id, m.content, m.metadata::text, m.salience, m.created_at, m.embedding,
       m.model, m.deleted, m.content_version, m.revision, m.updated_at, m.expires_at, m.agent_id, m.run_id
FROM (SELECT $1::text AS user_id) q
LEFT JOIN jm_user_versions uv ON uv.user_id = q.user_id
LEFT JOIN memories m ON m.user_id = q.user_id AND NOT m.deleted
"""
CHANGES_SINCE = """
SELECT uv.version, uv.purged_version, m.id, m.content, m.metadata::text, m.salience, m.created_at, m.embedding,
       m.model, m.deleted, m.content_version, m.revision, m.updated_at, m.expires_at, m.agent_id, m.run_id
FROM (SELECT $1::text AS user_id) q
LEFT JOIN jm_user_versions uv ON uv.user_id = q.user_id
LEFT JOIN memories m ON m.user_id = q.user_id AND m.version > $2
"""
HISTORY = """
SELECT revision, event, at, content, metadata::text, salience, expires_at, agent_id, run_id FROM memory_history
WHERE user_id = $1 AND id = $2 ORDER BY at, revision
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
RETURNING m.user_id, m.id, m.content
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
