-- Knowledge: documents, chunks (vector + full text), embedding cache, corpus version and change log.

CREATE TABLE IF NOT EXISTS documents (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    source        text NOT NULL UNIQUE,              -- path relative to the ingested directory / file name
    acl           text NOT NULL DEFAULT 'public'
                  CHECK (acl ~ '^(public|internal|group:[a-z0-9][a-z0-9_.-]{0,62})$'),
    title         text NOT NULL DEFAULT '',
    author        text,
    doc_date      text,
    page_count    int,
    mime          text,
    size_bytes    bigint,
    content_hash  text,                               -- sha256 of the bytes currently indexed
    pending_hash  text,                               -- sha256 of the bytes being processed
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'parsing', 'embedding', 'indexed', 'failed')),
    error_code    text,
    error         text,
    chunk_count   int NOT NULL DEFAULT 0,
    version       int NOT NULL DEFAULT 0,             -- bumped on every successful (re)index
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    indexed_at    timestamptz
);
CREATE INDEX IF NOT EXISTS documents_content_hash_idx ON documents (content_hash);
CREATE INDEX IF NOT EXISTS documents_status_idx ON documents (status);

CREATE TABLE IF NOT EXISTS chunks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc_id        uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ord           int NOT NULL,
    -- denormalised from documents so a search reads one table and filters on acl inside the index scan
    source        text NOT NULL,
    title         text NOT NULL DEFAULT '',
    acl           text NOT NULL,
    section       text NOT NULL DEFAULT '',
    section_path  text[] NOT NULL DEFAULT '{}',
    page          int,
    token_count   int NOT NULL DEFAULT 0,
    text          text NOT NULL,
    text_hash     text NOT NULL,                      -- sha256 of text (embedding cache key)
    embedding     vector(384) NOT NULL,
    tsv           tsvector GENERATED ALWAYS AS (
                      setweight(to_tsvector('english', coalesce(title, '') || ' ' || coalesce(section, '')), 'B')
                      || to_tsvector('english', text)) STORED,
    UNIQUE (doc_id, ord)
);
CREATE INDEX IF NOT EXISTS chunks_embedding_hnsw ON chunks USING hnsw (embedding vector_cosine_ops)
    WITH (m = 16, ef_construction = 64);
CREATE INDEX IF NOT EXISTS chunks_acl_idx ON chunks (acl);
CREATE INDEX IF NOT EXISTS chunks_tsv_idx ON chunks USING gin (tsv);

-- Embeddings cached by chunk text and model: re-ingesting unchanged text never re-embeds it.
CREATE TABLE IF NOT EXISTS embedding_cache (
    text_hash   text NOT NULL,
    model       text NOT NULL,
    embedding   vector(384) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (text_hash, model)
);

-- One row per corpus change (the version in meta.corpus_version after it): lets a semantic cache
-- invalidate answers that cited deleted chunks.
CREATE TABLE IF NOT EXISTS corpus_changes (
    version            bigint PRIMARY KEY,
    doc_id             uuid,
    op                 text NOT NULL CHECK (op IN ('index', 'replace', 'delete')),
    deleted_chunk_ids  bigint[] NOT NULL DEFAULT '{}',
    added_chunk_ids    bigint[] NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now()
);

INSERT INTO meta (key, value) VALUES ('corpus_version', '0'::jsonb) ON CONFLICT (key) DO NOTHING;
