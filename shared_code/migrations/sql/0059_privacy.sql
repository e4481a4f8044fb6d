-- Privacy (issue 19): an erased account keeps its row, so foreign keys from the rows kept
-- for aggregates and the law (progress counts, points, purchases) still hold, but its
-- personal fields are gone and `erased_at` says when. Tokens of an erased account are refused.
ALTER TABLE users ADD COLUMN IF NOT EXISTS erased_at timestamptz;
