-- One retry per expired pending enhancement, whatever the number of servers running the
-- expiry job. A database holding two retries of one enhancement (possible only with two
-- servers on one PostgreSQL before the expiry pass changed and answered its rows in one
-- statement) fails this migration on this index: keep one of each pair first.
CREATE UNIQUE INDEX pending_retry_once ON pending_enhancements (retry_of) WHERE retry_of IS NOT NULL;
