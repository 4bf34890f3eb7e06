-- The pending-enhancement statuses of the state machine (lifecycle.rs), and no other.
-- SQLite cannot add a CHECK constraint to a table; these triggers refuse the same.
CREATE TRIGGER pending_status_known_insert BEFORE INSERT ON pending_enhancements
WHEN NEW.status NOT IN ('pending', 'processing', 'importing', 'indexing', 'completed', 'failed', 'expired', 'discarded', 'indexing_failed')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: pending_status_known'); END;
CREATE TRIGGER pending_status_known_update BEFORE UPDATE OF status ON pending_enhancements
WHEN NEW.status NOT IN ('pending', 'processing', 'importing', 'indexing', 'completed', 'failed', 'expired', 'discarded', 'indexing_failed')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: pending_status_known'); END;
