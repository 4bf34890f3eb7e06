-- The pending-enhancement statuses of the state machine (lifecycle.rs), and no other.
ALTER TABLE pending_enhancements ADD CONSTRAINT pending_status_known CHECK (status IN ('pending', 'processing', 'importing', 'indexing', 'completed', 'failed', 'expired', 'discarded', 'indexing_failed'));
