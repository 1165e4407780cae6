-- Agent: every answer given (what produced it) and the reactions to it.
CREATE TABLE IF NOT EXISTS answers (
    id             text PRIMARY KEY,
    principal      text NOT NULL,
    channel        text NOT NULL,
    thread_id      text NOT NULL,
    question       text NOT NULL,
    answer         text NOT NULL,
    steps          jsonb NOT NULL DEFAULT '[]',
    citations      jsonb NOT NULL DEFAULT '[]',
    chunk_ids      text[] NOT NULL DEFAULT '{}',
    policy         text NOT NULL,
    model          text,
    latency_ms     real NOT NULL DEFAULT 0,
    cache_hit      boolean NOT NULL DEFAULT false,
    cache_entry_id text,
    order_id       text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS answers_principal ON answers (principal, created_at DESC);
CREATE INDEX IF NOT EXISTS answers_created ON answers (created_at DESC);

CREATE TABLE IF NOT EXISTS feedback (
    answer_id  text NOT NULL REFERENCES answers (id) ON DELETE CASCADE,
    principal  text NOT NULL,
    channel    text NOT NULL,
    score      smallint NOT NULL CHECK (score IN (-1, 1)),
    comment    text CHECK (comment IS NULL OR length(comment) <= 2000),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (answer_id, principal)
);
CREATE INDEX IF NOT EXISTS feedback_created ON feedback (created_at DESC);
