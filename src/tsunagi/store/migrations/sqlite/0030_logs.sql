-- CloudWatch Logs: log groups, log streams and their events.
-- Times are integer milliseconds since the epoch. Tags live in the shared `tags` table (keyed by logGroupArn).
CREATE TABLE IF NOT EXISTS logs_groups (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    account             TEXT NOT NULL,
    region              TEXT NOT NULL,
    name                TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    retention_days      INTEGER,                       -- NULL: events never expire
    kms_key_id          TEXT,
    group_class         TEXT NOT NULL DEFAULT 'STANDARD',
    deletion_protection INTEGER NOT NULL DEFAULT 0,
    stored_bytes        INTEGER NOT NULL DEFAULT 0,    -- UTF-8 bytes of the messages it holds
    UNIQUE (account, region, name)
);
CREATE INDEX IF NOT EXISTS logs_groups_retention ON logs_groups (retention_days) WHERE retention_days IS NOT NULL;

CREATE TABLE IF NOT EXISTS logs_streams (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id          INTEGER NOT NULL REFERENCES logs_groups (id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    first_event_at    INTEGER,                         -- smallest event timestamp
    last_event_at     INTEGER,                         -- largest event timestamp
    last_ingestion_at INTEGER,
    upload_seq        INTEGER NOT NULL DEFAULT 0,      -- batches written (the deprecated sequence token)
    UNIQUE (group_id, name)
);
CREATE INDEX IF NOT EXISTS logs_streams_last_event ON logs_streams (group_id, last_event_at, name);

CREATE TABLE IF NOT EXISTS logs_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,     -- also the tie-breaker between equal timestamps
    group_id    INTEGER NOT NULL,
    stream_id   INTEGER NOT NULL REFERENCES logs_streams (id) ON DELETE CASCADE,
    ts          INTEGER NOT NULL,
    ingested_at INTEGER NOT NULL,
    size        INTEGER NOT NULL,                      -- UTF-8 bytes of message
    message     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_events_stream ON logs_events (stream_id, ts, id);
CREATE INDEX IF NOT EXISTS logs_events_group ON logs_events (group_id, ts, id);
