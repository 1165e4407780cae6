-- Which embedding model (and int8/fp32 variant) produced each chunk's vector. Rows from before this
-- column, or from another LIBROMIND_EMBED_BACKEND, are re-embedded in the background (tools.passages).
ALTER TABLE chunks ADD COLUMN IF NOT EXISTS embed_model text;
