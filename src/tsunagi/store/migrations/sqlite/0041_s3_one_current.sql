-- S3: one current version per key, enforced by the database, and the event sequencer drawn from a
-- counter inside the commit (see store/s3.py). Rows with several current versions keep the newest.
UPDATE s3_objects SET latest = 0
WHERE latest = 1 AND id < (SELECT MAX(o.id) FROM s3_objects o
                           WHERE o.bucket = s3_objects.bucket AND o.key = s3_objects.key AND o.latest = 1);
CREATE UNIQUE INDEX IF NOT EXISTS s3_objects_current ON s3_objects (bucket, key) WHERE latest = 1;
-- The sequencer counter (one row, made by the first event; see next_sequencer).
CREATE TABLE IF NOT EXISTS s3_sequencer (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    value  INTEGER NOT NULL
);
