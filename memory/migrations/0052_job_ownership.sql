-- Job ownership and liveness: which queue backend runs a job, which process holds it (inline queue) and
-- when that process last said it was alive, so a restarted server re-queues jobs a dead one left behind.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS backend text;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS runner text;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS heartbeat_at timestamptz;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS submitted_by text;

-- Who uploaded the bytes (kept until the ingest job reaches a terminal state).
ALTER TABLE uploads ADD COLUMN IF NOT EXISTS uploaded_by text;
ALTER TABLE uploads ADD COLUMN IF NOT EXISTS content_hash text;
