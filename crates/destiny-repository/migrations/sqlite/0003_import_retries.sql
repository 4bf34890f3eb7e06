-- Import retries: a failed import is retried no earlier than `import_after` (microseconds
-- since the epoch; backoff) and gives up after a bounded number of attempts
-- (`import_attempts`). One that cannot succeed ends `import_state = 'failed'`, its
-- pending enhancements `failed`, with `import_error` saying why.
ALTER TABLE batches ADD COLUMN import_after BIGINT NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN import_error TEXT;
