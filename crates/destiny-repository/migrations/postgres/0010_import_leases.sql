-- Import leases: a worker that takes an import holds it until `import_lease_until`
-- (microseconds since the epoch) and extends it while it works. An import still
-- `running` after its lease is the work of a stopped holder, and any worker may take it
-- again; `import_attempts`, counted at each take, fences the former holder out.
ALTER TABLE batches ADD COLUMN import_lease_until BIGINT NOT NULL DEFAULT 0;
