-- Delivery records: one row for every delivery tsunagi made or did not make between services (an SNS
-- message to a subscription, an S3 event to its destination, a queue's messages to a function, an
-- async invocation's result to its destination), with why. Written in the transaction that caused
-- the delivery, or that finished it. `trace_id` ties a row to the journey of the request that started
-- it (tsunagi trace, the console). Swept by age (TSUNAGI_DELIVERY_RECORD_HOURS), oldest first in id
-- order, so there is no index on `at`.
CREATE TABLE IF NOT EXISTS deliveries (
    id          INTEGER PRIMARY KEY,
    trace_id    TEXT NOT NULL,
    at          INTEGER NOT NULL,               -- ms since the epoch
    account     TEXT NOT NULL,                  -- the account of the source
    region      TEXT NOT NULL,
    pipe        TEXT NOT NULL,                  -- sns | s3 | esm | async | destination | ...
    source_arn  TEXT NOT NULL,                  -- the topic, bucket, queue or function it came from
    message_id  TEXT,                           -- the source's id for what was delivered
    target_arn  TEXT NOT NULL,                  -- the subscription, queue, topic or function it went to
    protocol    TEXT,                           -- sqs | lambda | http | email | ... (SNS), or the target's service
    outcome     TEXT NOT NULL,                  -- delivered | queued | filtered | failed | dead-lettered | skipped | denied
    reason      TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_trace ON deliveries (trace_id);
CREATE INDEX IF NOT EXISTS deliveries_message ON deliveries (message_id);
CREATE INDEX IF NOT EXISTS deliveries_source ON deliveries (source_arn, id);

-- Outbox rows carry the journey of the change that wrote them.
ALTER TABLE outbox ADD COLUMN trace_id TEXT;
