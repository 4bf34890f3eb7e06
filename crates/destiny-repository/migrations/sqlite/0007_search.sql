-- The search index catches up from what changed since its last look (`search`).
CREATE INDEX refs_created ON refs (created_at);
CREATE INDEX enhancements_created ON enhancements (created_at);
-- Search-based enhancement requests (SDK 0.17.6 `SearchEnhancementRequestRead`): the
-- query, how its search went, and how many references it matched.
ALTER TABLE enhancement_requests ADD COLUMN search_query TEXT;
ALTER TABLE enhancement_requests ADD COLUMN search_status TEXT;
ALTER TABLE enhancement_requests ADD COLUMN n_matched BIGINT;
