-- Who made each upload, and every indexed version of a document (original bytes + metadata), so a
-- replaced document can be restored (POST /v1/documents/{id}/restore, memory.documents.store).
ALTER TABLE documents ADD COLUMN IF NOT EXISTS uploaded_by text;

CREATE TABLE IF NOT EXISTS document_versions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    doc_id        uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    version       int NOT NULL,                       -- documents.version after this change
    source        text NOT NULL,
    acl           text NOT NULL
                  CHECK (acl ~ '^(public|internal|group:[a-z0-9][a-z0-9_.-]{0,62})$'),
    title         text NOT NULL DEFAULT '',
    filename      text NOT NULL,
    mime          text,
    size_bytes    bigint,
    content_hash  text NOT NULL,
    data          bytea NOT NULL,                     -- the original bytes of this version
    uploaded_by   text,                               -- principal string; NULL for `libromind ingest`
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS document_versions_doc_idx ON document_versions (doc_id, created_at DESC);
