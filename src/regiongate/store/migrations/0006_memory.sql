-- Memory-as-a-Service (#16): the only content regiongate stores, and only for an org that enabled it in a
-- region whose configuration offers it (regions.<code>.gateway.memory). Facts are what the client sent to be
-- remembered, never anything taken from chat, messages, responses or embeddings requests. Bounded per org
-- (max_facts), kept for the org's retention_days (expired facts are never returned and are deleted by the
-- maintenance of `regiongate db maintain` and the audit writer), erasable per fact, session or user.
--
-- pgvector: RDS for PostgreSQL ships it; the migrations run as the instance's master user (rds_superuser),
-- who may create it. Locally scripts/test-postgres.sh builds third_party/pgvector and creates the extension
-- as the superuser (it is not a trusted extension), so this statement finds it there.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE memory_settings (
    org_id          text PRIMARY KEY REFERENCES orgs (org_id) ON DELETE CASCADE,
    enabled         boolean NOT NULL DEFAULT false,
    retention_days  integer NOT NULL CHECK (retention_days BETWEEN 1 AND 3650),
    max_facts       integer NOT NULL CHECK (max_facts BETWEEN 1 AND 10000000),
    updated_at      timestamptz NOT NULL
);

-- 1024 dimensions: every region's embedding model gives it (titan-embed-text-v2 at its default and most accurate
-- size, cohere-embed-multilingual-v3 and text-embedding-v3 natively), so one column type serves every region.
CREATE TABLE memory_facts (
    fact_id     uuid PRIMARY KEY,
    org_id      text NOT NULL REFERENCES orgs (org_id) ON DELETE CASCADE,
    scope_kind  text NOT NULL CHECK (scope_kind IN ('session', 'user')),
    scope_id    text NOT NULL CHECK (length(scope_id) BETWEEN 1 AND 200),
    fact        text NOT NULL,
    embedding   vector(1024) NOT NULL,
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    CHECK (expires_at > created_at)
);

-- The vectors in the heap, not in TOAST: PostgreSQL's cost of a sequential scan counts heap pages only, so with
-- TOASTed vectors (4 kB each) an exact scan of 10^5 facts looked cheaper than the HNSW index and the planner took
-- it (~400 ms instead of ~5) for some hnsw.ef_search values (pgvector's README gives the same remedy).
ALTER TABLE memory_facts ALTER COLUMN embedding SET STORAGE PLAIN;

CREATE INDEX memory_facts_scope ON memory_facts (org_id, scope_kind, scope_id, created_at, fact_id);
CREATE INDEX memory_facts_org_expiry ON memory_facts (org_id, expires_at);
CREATE INDEX memory_facts_expiry ON memory_facts (expires_at);
-- Approximate nearest neighbours by cosine distance (the embeddings are unit vectors). m and ef_construction are
-- pgvector's defaults, stated because they were measured: with the store's hnsw.ef_search (store/memory_facts.py
-- DEFAULT_EF_SEARCH, 400) recall@10 >= 0.95 on clustered data at 10^4..10^6 facts (docs/benchmarks.md).
CREATE INDEX memory_facts_embedding ON memory_facts USING hnsw (embedding vector_cosine_ops)
    WITH (m = 16, ef_construction = 64);
