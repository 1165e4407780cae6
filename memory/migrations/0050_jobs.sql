-- Background jobs (inline queue and arq share this table for status and progress).
CREATE TABLE IF NOT EXISTS jobs (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind             text NOT NULL,
    status           text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    progress         int NOT NULL DEFAULT 0,
    total            int,
    error            text,
    payload          jsonb NOT NULL DEFAULT '{}'::jsonb,
    result           jsonb,
    idempotency_key  text UNIQUE,
    attempts         int NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS jobs_status_idx ON jobs (status, created_at);

-- Uploaded bytes waiting for their ingest job (deleted when the job finishes).
CREATE TABLE IF NOT EXISTS uploads (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    filename    text NOT NULL,
    data        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
