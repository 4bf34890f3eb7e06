-- The local repository's schema (PostgreSQL). Ids are UUID text, times are microseconds since
-- the Unix epoch (UTC), JSON columns hold the models' JSON text.

CREATE TABLE robots (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    description   TEXT NOT NULL,
    owner         TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE refs (
    id          TEXT PRIMARY KEY,
    visibility  TEXT NOT NULL,
    identifiers TEXT,
    created_at  BIGINT NOT NULL
);

CREATE TABLE enhancements (
    id            TEXT PRIMARY KEY,
    reference_id  TEXT NOT NULL REFERENCES refs (id),
    source        TEXT NOT NULL,
    visibility    TEXT NOT NULL,
    robot_version TEXT,
    derived_from  TEXT,
    content       TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX enhancements_fingerprint ON enhancements (reference_id, fingerprint);

CREATE TABLE enhancement_requests (
    id              TEXT PRIMARY KEY,
    robot_id        TEXT NOT NULL REFERENCES robots (id),
    source          TEXT,
    reference_ids   TEXT NOT NULL,
    error           TEXT,
    reference_file  TEXT,
    result_file     TEXT,
    validation_file TEXT,
    created_at      BIGINT NOT NULL
);

CREATE TABLE batches (
    id              TEXT PRIMARY KEY,
    robot_id        TEXT NOT NULL REFERENCES robots (id),
    source          TEXT,
    reference_file  TEXT NOT NULL,
    result_file     TEXT NOT NULL,
    validation_file TEXT,
    error           TEXT,
    import_state    TEXT NOT NULL DEFAULT 'none',
    import_attempts INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
);
CREATE INDEX batches_import ON batches (import_state) WHERE import_state IN ('queued', 'running');

CREATE TABLE pending_enhancements (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    reference_id TEXT NOT NULL REFERENCES refs (id),
    robot_id     TEXT NOT NULL REFERENCES robots (id),
    request_id   TEXT NOT NULL REFERENCES enhancement_requests (id),
    batch_id     TEXT REFERENCES batches (id),
    status       TEXT NOT NULL,
    expires_at   BIGINT,
    retry_of     TEXT,
    retry_count  INTEGER NOT NULL DEFAULT 0,
    source       TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX pending_poll ON pending_enhancements (robot_id, seq) WHERE status = 'pending';
CREATE INDEX pending_per_reference ON pending_enhancements (robot_id, reference_id, seq) WHERE status = 'pending';
CREATE INDEX pending_batch ON pending_enhancements (batch_id);
CREATE INDEX pending_expiry ON pending_enhancements (expires_at) WHERE status = 'processing';
CREATE INDEX pending_request ON pending_enhancements (request_id);
