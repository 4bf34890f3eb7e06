-- The legacy single-request flow (POST /v1/enhancement-requests/{id}/results/) imports a
-- request's result file through a batch of its own; the batch names its request so the
-- import can record the validation file on the request too.
ALTER TABLE batches ADD COLUMN request_id TEXT REFERENCES enhancement_requests (id);
