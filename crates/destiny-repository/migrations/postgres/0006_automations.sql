-- Robot automations (SDK 0.17.6 `RobotAutomation`): a robot's standing query, matched
-- against every reference imported and every enhancement stored. `query` is the query's
-- JSON as validated (keys in the order given); one robot holds a query once.
CREATE TABLE robot_automations (
    id TEXT PRIMARY KEY,
    robot_id TEXT NOT NULL REFERENCES robots (id),
    query TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (robot_id, query)
);
-- What waits to be matched against the automations, written with what it matches (a
-- robot's results in the transaction that stores them), so a match survives a restart.
-- `batch_id` and `robot_id` are set for a robot's results; `items` is JSON: the reference
-- ids imported, or [reference id, enhancement id] pairs stored. A worker takes a row
-- until `taken_until` and deletes it once matched.
CREATE TABLE percolation_queue (
    id TEXT PRIMARY KEY,
    batch_id TEXT,
    robot_id TEXT,
    items TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    taken_until BIGINT
);
CREATE INDEX percolation_queue_order ON percolation_queue (created_at);
