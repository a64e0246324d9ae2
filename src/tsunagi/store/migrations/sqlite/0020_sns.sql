-- SNS: topics, subscriptions, FIFO deduplication, the signing key, delivery records, the local mailbox.
-- Times are integer milliseconds since the epoch.
CREATE TABLE IF NOT EXISTS sns_topics (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    name        TEXT NOT NULL,
    arn         TEXT NOT NULL UNIQUE,
    fifo        INTEGER NOT NULL DEFAULT 0,
    attributes  TEXT NOT NULL,             -- JSON: settable attributes as AWS returns them
    tags        TEXT NOT NULL DEFAULT '{}',
    seq         INTEGER NOT NULL DEFAULT 0, -- FIFO SequenceNumber counter
    created_at  INTEGER NOT NULL,
    UNIQUE (account, region, name)
);

CREATE TABLE IF NOT EXISTS sns_subscriptions (
    arn         TEXT PRIMARY KEY,
    topic_arn   TEXT NOT NULL,
    account     TEXT NOT NULL,             -- the subscription owner
    region      TEXT NOT NULL,
    protocol    TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    attributes  TEXT NOT NULL,             -- JSON: settable attributes (FilterPolicy, RawMessageDelivery, ...)
    pending     INTEGER NOT NULL DEFAULT 0, -- 1 until confirmed (http/https/email)
    token       TEXT,                      -- the confirmation token while pending
    created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sns_subscriptions_topic ON sns_subscriptions (topic_arn, arn);
CREATE INDEX IF NOT EXISTS sns_subscriptions_owner ON sns_subscriptions (account, region, arn);

CREATE TABLE IF NOT EXISTS sns_dedup (
    topic_arn   TEXT NOT NULL,
    dedup_id    TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    seq         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (topic_arn, dedup_id)
);
CREATE INDEX IF NOT EXISTS sns_dedup_created ON sns_dedup (created_at);

-- The RSA key messages are signed with (one row: every node signs with the same key).
CREATE TABLE IF NOT EXISTS sns_keys (
    id          TEXT PRIMARY KEY,
    private_pem TEXT NOT NULL,
    cert_pem    TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

-- What happened to each (message, subscription) pair that was not a plain success, and successes of
-- retried deliveries: read by the console and the trace command.
CREATE TABLE IF NOT EXISTS sns_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id       TEXT NOT NULL,
    topic_arn        TEXT NOT NULL,
    subscription_arn TEXT NOT NULL,
    protocol         TEXT NOT NULL,
    outcome          TEXT NOT NULL,        -- delivered | queued | filtered | failed | dead-lettered | skipped
    reason           TEXT,
    at               INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sns_deliveries_message ON sns_deliveries (message_id);
CREATE INDEX IF NOT EXISTS sns_deliveries_topic ON sns_deliveries (topic_arn, at);

-- The local mailbox: e-mail (and SMS) deliveries when no SMTP server is configured.
CREATE TABLE IF NOT EXISTS sns_mail (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account          TEXT NOT NULL,
    region           TEXT NOT NULL,
    kind             TEXT NOT NULL,        -- email | email-json | sms
    recipient        TEXT NOT NULL,
    sender           TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body             TEXT NOT NULL,
    topic_arn        TEXT,
    subscription_arn TEXT,
    message_id       TEXT,
    subscribe_url    TEXT,                 -- set on subscription confirmations
    created_at       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sns_mail_recipient ON sns_mail (recipient, id);
