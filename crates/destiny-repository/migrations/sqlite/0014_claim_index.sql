-- The claim finds the head of each reference's queue through `pending_per_reference`.
-- As a partial index (pending rows only) each claimed row left it at a random place
-- (reference ids are random), so a 10,000-row claim rewrote thousands of its pages.
-- Keeping every row lets a claim change only indexes it walks in order (queue position,
-- batch, lease expiry); the head is still found by the status check on the table row.
DROP INDEX pending_per_reference;
CREATE INDEX pending_per_reference ON pending_enhancements (robot_id, reference_id, seq);
