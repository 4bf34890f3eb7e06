-- Robot entitlements (SDK 0.17.6 `RobotEntitlement`): a JSON array of their names, as the
-- admin granted them; a robot registered before this migration holds none.
ALTER TABLE robots ADD COLUMN entitlements TEXT NOT NULL DEFAULT '[]';
-- Supersession chains: an enhancement may replace (`supersedes`) one enhancement of its
-- reference, which then records its successor (`superseded_by`). Only chain heads
-- (`superseded_by IS NULL`) are read; superseded enhancements stay stored as history.
ALTER TABLE enhancements ADD COLUMN supersedes TEXT;
ALTER TABLE enhancements ADD COLUMN superseded_by TEXT;
