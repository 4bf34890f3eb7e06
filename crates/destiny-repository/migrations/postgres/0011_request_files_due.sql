-- The requests whose legacy reference file is still to be written (requests over 10,000
-- references get it after their answer): the import worker looks for them every round,
-- and without this index it would read every request, its list of ids included.
CREATE INDEX requests_file_due ON enhancement_requests (created_at, id) WHERE reference_file IS NULL;
