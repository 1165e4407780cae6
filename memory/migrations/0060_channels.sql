-- Chat channels (Slack, Discord): durable de-duplication of platform events and the map from a posted
-- message to the answer it carries (reactions become feedback; confirmation buttons find their quote).

-- Every platform event handled, once: a retried delivery (Slack's X-Slack-Retry-Num, a Discord gateway
-- replay) finds its id here and is acknowledged without being answered again.
CREATE TABLE IF NOT EXISTS channel_events (
    platform    text NOT NULL,
    event_id    text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, event_id)
);
CREATE INDEX IF NOT EXISTS channel_events_received ON channel_events (received_at);

-- A message the bot posted: whose answer it is (principal key), in which conversation thread, which
-- answer (for 👍/👎) and, for an order confirmation, the quote and whether its buttons were used.
CREATE TABLE IF NOT EXISTS channel_messages (
    platform    text NOT NULL,
    channel_id  text NOT NULL,
    message_id  text NOT NULL,
    answer_id   text REFERENCES answers (id) ON DELETE SET NULL,
    principal   text NOT NULL,
    thread      text NOT NULL,
    quote_id    text,
    quote_state text CHECK (quote_state IS NULL OR quote_state IN ('pending', 'confirmed', 'cancelled')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, channel_id, message_id)
);
CREATE INDEX IF NOT EXISTS channel_messages_answer ON channel_messages (answer_id);
