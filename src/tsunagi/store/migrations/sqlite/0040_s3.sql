-- S3: buckets, object versions, multipart uploads, the SSE-S3 master key.
-- Object bytes live in the blob store (files under the data dir); rows reference blobs by id.
-- Times are float seconds since the epoch (millisecond precision).
CREATE TABLE IF NOT EXISTS s3_buckets (
    name        TEXT PRIMARY KEY,
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    versioning  TEXT NOT NULL DEFAULT '',        -- '' (never enabled) | Enabled | Suspended
    config      TEXT NOT NULL DEFAULT '{}'       -- JSON: policy, encryption, tagging, cors, notification, ...
);
CREATE INDEX IF NOT EXISTS s3_buckets_account ON s3_buckets (account, name);

-- One row per object version (version_id 'null' for unversioned writes); ``latest`` marks the current one.
CREATE TABLE IF NOT EXISTS s3_objects (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket         TEXT NOT NULL,
    key            TEXT NOT NULL,
    version_id     TEXT NOT NULL,
    latest         INTEGER NOT NULL DEFAULT 1,
    delete_marker  INTEGER NOT NULL DEFAULT 0,
    size           INTEGER NOT NULL DEFAULT 0,
    etag           TEXT NOT NULL DEFAULT '',
    modified_at    REAL NOT NULL,
    info           TEXT NOT NULL DEFAULT '{}',   -- JSON: content headers, metadata, tags, checksum, sse, ...
    segments       TEXT NOT NULL DEFAULT '[]',   -- JSON: the blobs holding the bytes, in order
    UNIQUE (bucket, key, version_id)
);
CREATE INDEX IF NOT EXISTS s3_objects_listing ON s3_objects (bucket, latest, key);

CREATE TABLE IF NOT EXISTS s3_uploads (
    upload_id   TEXT PRIMARY KEY,
    bucket      TEXT NOT NULL,
    key         TEXT NOT NULL,
    account     TEXT NOT NULL,
    created_at  REAL NOT NULL,
    info        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS s3_uploads_bucket ON s3_uploads (bucket, key, created_at);

CREATE TABLE IF NOT EXISTS s3_parts (
    upload_id    TEXT NOT NULL,
    part_number  INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    etag         TEXT NOT NULL,
    modified_at  REAL NOT NULL,
    info         TEXT NOT NULL DEFAULT '{}',     -- JSON: checksum
    segment      TEXT NOT NULL,                  -- JSON: the blob holding the part
    PRIMARY KEY (upload_id, part_number)
);

CREATE TABLE IF NOT EXISTS s3_keys (
    name  TEXT PRIMARY KEY,
    key   BLOB NOT NULL
);
