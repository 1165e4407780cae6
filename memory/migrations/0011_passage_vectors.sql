-- Passage vectors (rerank windows and answer sentences of every chunk) are precomputed in the
-- background into embedding_cache; this flag says a chunk's are there. New chunk rows start false.
ALTER TABLE chunks ADD COLUMN IF NOT EXISTS passages_ready boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS chunks_passages_pending ON chunks (id) WHERE NOT passages_ready;
