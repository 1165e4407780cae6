-- Semantic answer cache (pgvector backend): one row per cached answer, partitioned by the asking
-- principal's ACL scopes + corpus/catalog version (memory.cache.cache_partition).
CREATE TABLE IF NOT EXISTS cache_entries (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    partition   text NOT NULL,
    question    text NOT NULL,
    embedding   vector(384) NOT NULL,
    reply       jsonb NOT NULL,
    chunk_ids   text[] NOT NULL DEFAULT '{}',      -- chunks the answer cited (invalidation)
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    hits        int NOT NULL DEFAULT 0,
    last_hit_at timestamptz
);
CREATE INDEX IF NOT EXISTS cache_entries_embedding_hnsw ON cache_entries
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX IF NOT EXISTS cache_entries_partition_idx ON cache_entries (partition, expires_at);
CREATE INDEX IF NOT EXISTS cache_entries_chunk_ids_gin ON cache_entries USING gin (chunk_ids);
CREATE INDEX IF NOT EXISTS cache_entries_expires_idx ON cache_entries (expires_at);
