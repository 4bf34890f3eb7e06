-- A request over 10,000 references is answered once its first 10,000 pending
-- enhancements are written; the import worker writes the others a chunk per transaction.
-- `pending_written` counts those written so far while some are still to be written, and
-- is NULL once all are (every request before this migration, too).
ALTER TABLE enhancement_requests ADD COLUMN pending_written BIGINT;
CREATE INDEX requests_rows_due ON enhancement_requests (created_at, id) WHERE pending_written IS NOT NULL;
-- The id list of a 100,000-reference request is 3.8 MB, written with the request and read
-- back rarely: stored out of line without compression, the request does not wait for it
-- to be compressed.
ALTER TABLE enhancement_requests ALTER COLUMN reference_ids SET STORAGE EXTERNAL;
