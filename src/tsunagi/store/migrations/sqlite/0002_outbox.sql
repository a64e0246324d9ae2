-- The durable outbox: deliveries between services (S3 notifications, SNS fan-out, async invokes),
-- written in the same transaction as the change that caused them and run by the dispatcher.
-- Times are integer milliseconds since the epoch.
CREATE TABLE IF NOT EXISTS outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT NOT NULL,              -- the handler: sqs | sns | lambda | ...
    target           TEXT NOT NULL,              -- usually an ARN
    payload          TEXT NOT NULL,              -- JSON, the handler's input
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    last_error       TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt_at, id);
