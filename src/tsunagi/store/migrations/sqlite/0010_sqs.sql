-- SQS: queues, messages, FIFO deduplication, FIFO receive attempts, message move tasks.
-- Times are integer milliseconds since the epoch unless the column says otherwise.
CREATE TABLE IF NOT EXISTS sqs_queues (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account      TEXT NOT NULL,
    region       TEXT NOT NULL,
    name         TEXT NOT NULL,
    arn          TEXT NOT NULL,
    fifo         INTEGER NOT NULL DEFAULT 0,
    attributes   TEXT NOT NULL,            -- JSON: the settable attributes as AWS returns them
    tags         TEXT NOT NULL DEFAULT '{}',
    dlq_arn      TEXT,                     -- RedrivePolicy's deadLetterTargetArn (ListDeadLetterSourceQueues)
    created_at   INTEGER NOT NULL,         -- seconds
    modified_at  INTEGER NOT NULL,         -- seconds
    purged_at    INTEGER,
    UNIQUE (account, region, name)
);
CREATE INDEX IF NOT EXISTS sqs_queues_arn ON sqs_queues (arn);
CREATE INDEX IF NOT EXISTS sqs_queues_dlq ON sqs_queues (dlq_arn) WHERE dlq_arn IS NOT NULL;

CREATE TABLE IF NOT EXISTS sqs_deleted_queues (
    account    TEXT NOT NULL,
    region     TEXT NOT NULL,
    name       TEXT NOT NULL,
    deleted_at INTEGER NOT NULL,
    PRIMARY KEY (account, region, name)
);

CREATE TABLE IF NOT EXISTS sqs_messages (
    id               INTEGER PRIMARY KEY,   -- receive order; a rowid (no AUTOINCREMENT: it costs a write per insert)
    queue_id         INTEGER NOT NULL REFERENCES sqs_queues (id) ON DELETE CASCADE,
    message_id       TEXT NOT NULL,
    body             TEXT NOT NULL,
    md5_body         TEXT NOT NULL,
    attrs            TEXT,                 -- message attributes (JSON), NULL when none
    md5_attrs        TEXT,
    trace_header     TEXT,                 -- the AWSTraceHeader system attribute
    md5_sys          TEXT,
    sender_id        TEXT NOT NULL,
    sent_at          INTEGER NOT NULL,
    retain_from      INTEGER NOT NULL,     -- retention counts from here (sent_at, or the move into a FIFO DLQ)
    visible_at       INTEGER NOT NULL,
    receive_count    INTEGER NOT NULL DEFAULT 0,
    first_receive_at INTEGER,
    receipt          INTEGER NOT NULL DEFAULT 0,   -- nonce of the latest receive (in receipt handles)
    received_at      INTEGER,              -- when the latest receive happened (the 12-hour rule)
    group_id         TEXT,
    dedup_id         TEXT,
    fifo             INTEGER NOT NULL DEFAULT 0,
    dlq_source       TEXT,                 -- DeadLetterQueueSourceArn
    seq              INTEGER               -- FIFO SequenceNumber (never reused)
);
-- Receive order for standard queues: visible messages of one queue, oldest first.
CREATE INDEX IF NOT EXISTS sqs_messages_ready ON sqs_messages (queue_id, visible_at, id);
-- Receive order for FIFO queues: by sequence number.
CREATE INDEX IF NOT EXISTS sqs_messages_fifo ON sqs_messages (queue_id, id) WHERE fifo = 1;

-- SQLite only: the FIFO sequence counter (PostgreSQL uses the identity column, which never reuses).
CREATE TABLE IF NOT EXISTS sqs_counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS sqs_dedup (
    queue_id   INTEGER NOT NULL REFERENCES sqs_queues (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,              -- '' (queue scope) or the message group
    dedup_id   TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (queue_id, scope, dedup_id)
);
CREATE INDEX IF NOT EXISTS sqs_dedup_created ON sqs_dedup (created_at);

CREATE TABLE IF NOT EXISTS sqs_receive_attempts (
    queue_id   INTEGER NOT NULL REFERENCES sqs_queues (id) ON DELETE CASCADE,
    attempt_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    receipt    INTEGER NOT NULL,
    ids        TEXT NOT NULL,              -- JSON list of message row ids
    PRIMARY KEY (queue_id, attempt_id)
);

CREATE TABLE IF NOT EXISTS sqs_move_tasks (
    handle      TEXT PRIMARY KEY,
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    source_arn  TEXT NOT NULL,
    dest_arn    TEXT,
    rate        INTEGER,
    status      TEXT NOT NULL,
    moved       INTEGER NOT NULL DEFAULT 0,
    to_move     INTEGER,
    failure     TEXT,
    started_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sqs_move_tasks_source ON sqs_move_tasks (source_arn, started_at);
