-- S3 on several servers: one current version per key, enforced by the database (writers to one key
-- also serialize on an advisory lock, see store/s3.py), and the event sequencer drawn from a sequence
-- inside the commit. Rows left with several current versions by the race this closes keep the newest.
UPDATE s3_objects SET latest = 0
WHERE latest = 1 AND id < (SELECT MAX(o.id) FROM s3_objects o
                           WHERE o.bucket = s3_objects.bucket AND o.key = s3_objects.key AND o.latest = 1);
CREATE UNIQUE INDEX IF NOT EXISTS s3_objects_current ON s3_objects (bucket, key) WHERE latest = 1;
-- Sequencers before this were nanoseconds since the epoch: start there so later ones stay greater.
CREATE SEQUENCE IF NOT EXISTS s3_sequencer;
SELECT setval('s3_sequencer', (extract(epoch FROM clock_timestamp()) * 1e9)::bigint);
