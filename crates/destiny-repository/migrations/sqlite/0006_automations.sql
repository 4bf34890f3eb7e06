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
