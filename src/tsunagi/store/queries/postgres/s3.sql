-- S3 (see store/s3.py). Keys compare in UTF-8 byte order: SQLite's BINARY collation here, COLLATE "C"
-- on PostgreSQL (set on the columns by the migration), the order S3 lists them in. Listings take a
-- half-open key range [lower, upper); the *_below variants are those with an upper bound.

-- == buckets ==================================================================================

-- name: create_bucket
INSERT INTO s3_buckets (name, account, region, created_at, config) VALUES (?, ?, ?, ?, ?);

-- name: bucket
SELECT name, account, region, created_at, versioning, config FROM s3_buckets WHERE name = ?;

-- name: buckets
SELECT name, account, region, created_at, versioning, config FROM s3_buckets
WHERE account = ? AND name > ? AND name >= ? ORDER BY name LIMIT ?;

-- name: buckets_below
SELECT name, account, region, created_at, versioning, config FROM s3_buckets
WHERE account = ? AND name > ? AND name >= ? AND name < ? ORDER BY name LIMIT ?;

-- name: bucket_upload_segments
SELECT p.segment FROM s3_parts p JOIN s3_uploads u ON u.upload_id = p.upload_id WHERE u.bucket = ?;

-- name: delete_bucket_parts
DELETE FROM s3_parts WHERE upload_id IN (SELECT upload_id FROM s3_uploads WHERE bucket = ?);

-- name: delete_bucket_uploads
DELETE FROM s3_uploads WHERE bucket = ?;

-- name: delete_bucket
DELETE FROM s3_buckets WHERE name = ?;

-- name: any_object
SELECT 1 FROM s3_objects WHERE bucket = ? LIMIT 1;

-- name: set_bucket_config
UPDATE s3_buckets SET config = ? WHERE name = ?;

-- name: set_versioning
UPDATE s3_buckets SET versioning = ? WHERE name = ?;

-- == objects ==================================================================================

-- name: lock_key
-- Writers to one key (its versions and which one is current) take turns across servers until commit.
SELECT pg_advisory_xact_lock(hashtext(?));

-- name: next_sequencer
-- The event sequencer, drawn after lock_key: a key's events order as their commits did.
SELECT nextval('s3_sequencer');

-- name: current_object
SELECT id, bucket, key, version_id, latest, delete_marker, size, etag, modified_at, info, segments
FROM s3_objects WHERE bucket = ? AND key = ? AND latest = 1;

-- name: object_version
SELECT id, bucket, key, version_id, latest, delete_marker, size, etag, modified_at, info, segments
FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?;

-- name: null_version_segments
SELECT segments FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = 'null';

-- name: delete_null_version
DELETE FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = 'null';

-- name: unset_latest
UPDATE s3_objects SET latest = 0 WHERE bucket = ? AND key = ? AND latest = 1;

-- name: insert_object
INSERT INTO s3_objects (bucket, key, version_id, latest, delete_marker, size, etag, modified_at, info, segments)
VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?);

-- name: delete_object_row
DELETE FROM s3_objects WHERE id = ?;

-- name: promote_newest
-- After the current version was deleted, the newest remaining one becomes current.
UPDATE s3_objects SET latest = 1 WHERE id = (SELECT MAX(id) FROM s3_objects WHERE bucket = ? AND key = ?);

-- name: set_object_info
UPDATE s3_objects SET info = ? WHERE id = ?;

-- name: list_current
SELECT id, key, version_id, latest, delete_marker, size, etag, modified_at, info FROM s3_objects
WHERE bucket = ? AND latest = 1 AND delete_marker = 0 AND key >= ? AND key > ? ORDER BY key LIMIT ?;

-- name: list_current_below
SELECT id, key, version_id, latest, delete_marker, size, etag, modified_at, info FROM s3_objects
WHERE bucket = ? AND latest = 1 AND delete_marker = 0 AND key >= ? AND key > ? AND key < ? ORDER BY key LIMIT ?;

-- name: list_versions
SELECT id, key, version_id, latest, delete_marker, size, etag, modified_at, info FROM s3_objects
WHERE bucket = ? AND key >= ? AND key > ? ORDER BY key, id DESC LIMIT ?;

-- name: list_versions_below
SELECT id, key, version_id, latest, delete_marker, size, etag, modified_at, info FROM s3_objects
WHERE bucket = ? AND key >= ? AND key > ? AND key < ? ORDER BY key, id DESC LIMIT ?;

-- name: list_versions_after
-- After a version marker: later keys, and within the marker's key the versions older than its row.
SELECT id, key, version_id, latest, delete_marker, size, etag, modified_at, info FROM s3_objects
WHERE bucket = ? AND key >= ? AND (key > ? OR (key = ? AND id < ?)) ORDER BY key, id DESC LIMIT ?;

-- name: list_versions_after_below
SELECT id, key, version_id, latest, delete_marker, size, etag, modified_at, info FROM s3_objects
WHERE bucket = ? AND key >= ? AND (key > ? OR (key = ? AND id < ?)) AND key < ? ORDER BY key, id DESC LIMIT ?;

-- name: version_row_id
SELECT id FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?;

-- name: all_segments
SELECT segments FROM s3_objects;

-- == multipart uploads ========================================================================

-- name: create_upload
INSERT INTO s3_uploads (upload_id, bucket, key, account, created_at, info) VALUES (?, ?, ?, ?, ?, ?);

-- name: upload
SELECT upload_id, bucket, key, account, created_at, info FROM s3_uploads WHERE upload_id = ?;

-- name: uploads
SELECT upload_id, bucket, key, account, created_at, info FROM s3_uploads
WHERE bucket = ? AND key >= ? AND key > ? ORDER BY key, created_at, upload_id LIMIT ?;

-- name: uploads_below
SELECT upload_id, bucket, key, account, created_at, info FROM s3_uploads
WHERE bucket = ? AND key >= ? AND key > ? AND key < ? ORDER BY key, created_at, upload_id LIMIT ?;

-- name: uploads_after
-- After an upload marker: later keys, and within the marker's key the uploads begun after it.
SELECT upload_id, bucket, key, account, created_at, info FROM s3_uploads
WHERE bucket = ? AND key >= ? AND (key > ? OR (key = ? AND (created_at > ? OR (created_at = ? AND upload_id > ?))))
ORDER BY key, created_at, upload_id LIMIT ?;

-- name: uploads_after_below
SELECT upload_id, bucket, key, account, created_at, info FROM s3_uploads
WHERE bucket = ? AND key >= ? AND (key > ? OR (key = ? AND (created_at > ? OR (created_at = ? AND upload_id > ?))))
  AND key < ?
ORDER BY key, created_at, upload_id LIMIT ?;

-- name: upload_exists
SELECT 1 FROM s3_uploads WHERE upload_id = ?;

-- name: part_segment
SELECT segment FROM s3_parts WHERE upload_id = ? AND part_number = ?;

-- name: delete_part
DELETE FROM s3_parts WHERE upload_id = ? AND part_number = ?;

-- name: insert_part
INSERT INTO s3_parts (upload_id, part_number, size, etag, modified_at, info, segment) VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: parts
SELECT part_number, size, etag, modified_at, info, segment FROM s3_parts
WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?;

-- name: all_parts
SELECT part_number, size, etag, modified_at, info, segment FROM s3_parts WHERE upload_id = ? ORDER BY part_number;

-- name: delete_parts
DELETE FROM s3_parts WHERE upload_id = ?;

-- name: delete_upload
DELETE FROM s3_uploads WHERE upload_id = ?;

-- name: all_part_segments
SELECT segment FROM s3_parts;

-- == SSE-S3 master key ========================================================================

-- name: offer_key
INSERT INTO s3_keys (name, key) VALUES (?, ?) ON CONFLICT (name) DO NOTHING;

-- name: key
SELECT key FROM s3_keys WHERE name = ?;
