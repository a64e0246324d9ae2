-- SSE-SQS (SqsManagedSseEnabled): the SQS-owned key messages of such queues are sealed with, made on
-- first use and shared by every server on the store (as S3 keeps its SSE-S3 key in s3_keys).
CREATE TABLE IF NOT EXISTS sqs_keys (
    name     TEXT PRIMARY KEY,
    material BLOB NOT NULL
);
