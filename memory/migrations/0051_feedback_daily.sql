-- Daily feedback aggregates per channel, policy and step route (written by the aggregate_feedback job).
CREATE TABLE IF NOT EXISTS feedback_daily (
    day        date NOT NULL,
    channel    text NOT NULL,
    policy     text NOT NULL,
    route      text NOT NULL,
    answers    int NOT NULL,
    up         int NOT NULL,
    down       int NOT NULL,
    cache_hits int NOT NULL,
    p50_ms     real,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, channel, policy, route)
);
