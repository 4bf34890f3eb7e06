-- SQLite's `pending_per_reference` keeps every row from this version on (see its
-- 0014_claim_index.sql). PostgreSQL keeps the partial index: a claim changes indexed
-- columns, so the new row version gets an entry in every index whose predicate it meets;
-- a processing row meets none of the partial one's, which stays small.
SELECT 1;
