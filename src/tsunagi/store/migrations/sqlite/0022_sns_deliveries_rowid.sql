-- Delivery records are written by every publish, so they should cost it as few pages as possible:
-- a plain rowid (AUTOINCREMENT rewrote sqlite_sequence on every insert) and no index on `at`
-- (records are swept oldest first, in id order, which is the order they were written in).
CREATE TABLE sns_deliveries_v2 (
    id               INTEGER PRIMARY KEY,
    message_id       TEXT NOT NULL,
    topic_arn        TEXT NOT NULL,
    subscription_arn TEXT NOT NULL,
    protocol         TEXT NOT NULL,
    outcome          TEXT NOT NULL,        -- delivered | queued | filtered | failed | dead-lettered | skipped
    reason           TEXT,
    at               INTEGER NOT NULL
);
INSERT INTO sns_deliveries_v2 (id, message_id, topic_arn, subscription_arn, protocol, outcome, reason, at)
    SELECT id, message_id, topic_arn, subscription_arn, protocol, outcome, reason, at FROM sns_deliveries;
DROP TABLE sns_deliveries;
ALTER TABLE sns_deliveries_v2 RENAME TO sns_deliveries;
CREATE INDEX IF NOT EXISTS sns_deliveries_message ON sns_deliveries (message_id);
CREATE INDEX IF NOT EXISTS sns_deliveries_topic ON sns_deliveries (topic_arn, at);
