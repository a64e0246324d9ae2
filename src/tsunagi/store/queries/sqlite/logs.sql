-- CloudWatch Logs (see store/logs.py). Events are ordered by (ts, id); locks are taken group row first,
-- then stream row, so concurrent writers on PostgreSQL never deadlock.

-- == groups ==================================================================================

-- name: group
SELECT id, account, region, name, created_at, retention_days, kms_key_id, group_class, deletion_protection,
       stored_bytes
FROM logs_groups WHERE account = ? AND region = ? AND name = ?;

-- name: create_group
INSERT INTO logs_groups (account, region, name, created_at, kms_key_id, group_class, deletion_protection)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account, region, name) DO NOTHING RETURNING id;

-- name: delete_group
DELETE FROM logs_groups WHERE id = ?;

-- name: list_groups
-- Groups in name order after a name, optionally with a prefix (NULL: any) and a substring (NULL: any).
SELECT id, account, region, name, created_at, retention_days, kms_key_id, group_class, deletion_protection,
       stored_bytes
FROM logs_groups
WHERE account = ? AND region = ?
  AND (CAST(? AS TEXT) IS NULL OR substr(name, 1, length(CAST(? AS TEXT))) = ?)
  AND (CAST(? AS TEXT) IS NULL OR instr(name, ?) > 0)
  AND name > ?
ORDER BY name LIMIT ?;

-- name: list_groups_named
SELECT id, account, region, name, created_at, retention_days, kms_key_id, group_class, deletion_protection,
       stored_bytes
FROM logs_groups
WHERE account = ? AND region = ?
  AND (CAST(? AS TEXT) IS NULL OR substr(name, 1, length(CAST(? AS TEXT))) = ?)
  AND (CAST(? AS TEXT) IS NULL OR instr(name, ?) > 0)
  AND name > ? AND name IN ({marks})
ORDER BY name LIMIT ?;

-- name: set_retention
UPDATE logs_groups SET retention_days = ? WHERE id = ?;

-- name: set_protection
UPDATE logs_groups SET deletion_protection = ? WHERE id = ?;

-- name: set_kms_key
UPDATE logs_groups SET kms_key_id = ? WHERE id = ?;

-- name: add_bytes
UPDATE logs_groups SET stored_bytes = stored_bytes + ? WHERE id = ?;

-- name: add_bytes_if_named
-- A cached group id still names this group: count the bytes and say so.
UPDATE logs_groups SET stored_bytes = stored_bytes + ?
WHERE id = ? AND account = ? AND region = ? AND name = ? RETURNING id;

-- name: ensure_group
INSERT INTO logs_groups (account, region, name, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (account, region, name) DO NOTHING;

-- name: group_id
SELECT id FROM logs_groups WHERE account = ? AND region = ? AND name = ?;

-- == tags ====================================================================================

-- name: tags
SELECT key, value FROM tags WHERE arn = ? ORDER BY key;

-- name: delete_tags
DELETE FROM tags WHERE arn = ?;

-- name: insert_tag
INSERT INTO tags (arn, key, value) VALUES (?, ?, ?);

-- name: put_tag
INSERT INTO tags (arn, key, value) VALUES (?, ?, ?) ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value;

-- name: delete_tag
DELETE FROM tags WHERE arn = ? AND key = ?;

-- == streams =================================================================================

-- name: stream
SELECT id, name, created_at, first_event_at, last_event_at, last_ingestion_at, upload_seq
FROM logs_streams WHERE group_id = ? AND name = ?;

-- name: create_stream
INSERT INTO logs_streams (group_id, name, created_at) VALUES (?, ?, ?)
ON CONFLICT (group_id, name) DO NOTHING RETURNING id;

-- name: ensure_stream
INSERT INTO logs_streams (group_id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (group_id, name) DO NOTHING;

-- name: stream_id
SELECT id FROM logs_streams WHERE group_id = ? AND name = ?;

-- name: stream_bytes
SELECT COALESCE(SUM(size), 0) FROM logs_events WHERE stream_id = ?;

-- name: delete_stream
DELETE FROM logs_streams WHERE id = ?;

-- name: streams_by_name
-- After a name (NULL: from the start), optionally with a prefix.
SELECT id, name, created_at, first_event_at, last_event_at, last_ingestion_at, upload_seq
FROM logs_streams
WHERE group_id = ? AND (CAST(? AS TEXT) IS NULL OR substr(name, 1, length(CAST(? AS TEXT))) = ?)
  AND (CAST(? AS TEXT) IS NULL OR name > ?)
ORDER BY name ASC LIMIT ?;

-- name: streams_by_name_desc
SELECT id, name, created_at, first_event_at, last_event_at, last_ingestion_at, upload_seq
FROM logs_streams
WHERE group_id = ? AND (CAST(? AS TEXT) IS NULL OR substr(name, 1, length(CAST(? AS TEXT))) = ?)
  AND (CAST(? AS TEXT) IS NULL OR name < ?)
ORDER BY name DESC LIMIT ?;

-- name: streams_by_last_event
-- By (last event time, name) after a key (the first page passes a key before every stream); streams
-- without events sort first (as the oldest).
SELECT id, name, created_at, first_event_at, last_event_at, last_ingestion_at, upload_seq
FROM logs_streams
WHERE group_id = ? AND (CAST(? AS TEXT) IS NULL OR substr(name, 1, length(CAST(? AS TEXT))) = ?)
  AND (COALESCE(last_event_at, -4611686018427387904), name) > (?, ?)
ORDER BY COALESCE(last_event_at, -4611686018427387904) ASC, name ASC LIMIT ?;

-- name: streams_by_last_event_desc
SELECT id, name, created_at, first_event_at, last_event_at, last_ingestion_at, upload_seq
FROM logs_streams
WHERE group_id = ? AND (CAST(? AS TEXT) IS NULL OR substr(name, 1, length(CAST(? AS TEXT))) = ?)
  AND (COALESCE(last_event_at, -4611686018427387904), name) < (?, ?)
ORDER BY COALESCE(last_event_at, -4611686018427387904) DESC, name DESC LIMIT ?;

-- name: touch_stream
-- A stream's summary after new events (first/last event times, ingestion time, sequence number).
UPDATE logs_streams SET first_event_at = min(COALESCE(first_event_at, ?), ?),
       last_event_at = max(COALESCE(last_event_at, ?), ?), last_ingestion_at = ?,
       upload_seq = upload_seq + 1
WHERE id = ? RETURNING upload_seq;

-- name: touch_stream_if_named
-- The same, when a cached stream id still names this stream of this group.
UPDATE logs_streams SET first_event_at = min(COALESCE(first_event_at, ?), ?),
       last_event_at = max(COALESCE(last_event_at, ?), ?), last_ingestion_at = ?,
       upload_seq = upload_seq + 1
WHERE id = ? AND group_id = ? AND name = ? RETURNING upload_seq;

-- name: upload_seq
SELECT upload_seq FROM logs_streams WHERE id = ?;

-- name: upload_seq_if_named
SELECT upload_seq FROM logs_streams WHERE id = ? AND group_id = ? AND name = ?;

-- == events ==================================================================================

-- name: insert_event
INSERT INTO logs_events (group_id, stream_id, ts, ingested_at, size, message) VALUES (?, ?, ?, ?, ?, ?);

-- name: stream_events
-- One stream's events with start <= ts < end and ts >= cutoff, strictly after a position (ts, id),
-- oldest first (the first page passes a position before every event).
SELECT e.id, s.name, e.ts, e.ingested_at, e.message, e.size
FROM logs_events e JOIN logs_streams s ON s.id = e.stream_id
WHERE e.stream_id = ? AND e.ts >= ? AND e.ts < ? AND e.ts >= ? AND (e.ts, e.id) > (?, ?)
ORDER BY e.ts ASC, e.id ASC LIMIT ?;

-- name: stream_events_desc
-- The same strictly before a position, newest first.
SELECT e.id, s.name, e.ts, e.ingested_at, e.message, e.size
FROM logs_events e JOIN logs_streams s ON s.id = e.stream_id
WHERE e.stream_id = ? AND e.ts >= ? AND e.ts < ? AND e.ts >= ? AND (e.ts, e.id) < (?, ?)
ORDER BY e.ts DESC, e.id DESC LIMIT ?;

-- name: group_events
-- A group's events with start <= ts <= end and ts >= cutoff: streams with a prefix (NULL: all), messages
-- containing up to three substrings (NULL: no test; a pre-filter, the caller applies the whole pattern),
-- strictly past a position (ts, id) in the reading direction (the first page passes one before every event).
SELECT e.id, s.name, e.ts, e.ingested_at, e.message, e.size
FROM logs_events e JOIN logs_streams s ON s.id = e.stream_id
WHERE e.group_id = ? AND e.ts >= ? AND e.ts <= ? AND e.ts >= ?
  AND (CAST(? AS TEXT) IS NULL OR substr(s.name, 1, length(CAST(? AS TEXT))) = ?)
  AND (CAST(? AS TEXT) IS NULL OR instr(e.message, ?) > 0)
  AND (CAST(? AS TEXT) IS NULL OR instr(e.message, ?) > 0)
  AND (CAST(? AS TEXT) IS NULL OR instr(e.message, ?) > 0)
  AND (e.ts, e.id) > (?, ?)
ORDER BY e.ts ASC, e.id ASC LIMIT ?;

-- name: group_events_desc
SELECT e.id, s.name, e.ts, e.ingested_at, e.message, e.size
FROM logs_events e JOIN logs_streams s ON s.id = e.stream_id
WHERE e.group_id = ? AND e.ts >= ? AND e.ts <= ? AND e.ts >= ?
  AND (CAST(? AS TEXT) IS NULL OR substr(s.name, 1, length(CAST(? AS TEXT))) = ?)
  AND (CAST(? AS TEXT) IS NULL OR instr(e.message, ?) > 0)
  AND (CAST(? AS TEXT) IS NULL OR instr(e.message, ?) > 0)
  AND (CAST(? AS TEXT) IS NULL OR instr(e.message, ?) > 0)
  AND (e.ts, e.id) < (?, ?)
ORDER BY e.ts DESC, e.id DESC LIMIT ?;

-- name: group_events_named
-- The same, in the named streams only.
SELECT e.id, s.name, e.ts, e.ingested_at, e.message, e.size
FROM logs_events e JOIN logs_streams s ON s.id = e.stream_id
WHERE e.group_id = ? AND e.ts >= ? AND e.ts <= ? AND e.ts >= ?
  AND (CAST(? AS TEXT) IS NULL OR substr(s.name, 1, length(CAST(? AS TEXT))) = ?)
  AND (CAST(? AS TEXT) IS NULL OR instr(e.message, ?) > 0)
  AND (CAST(? AS TEXT) IS NULL OR instr(e.message, ?) > 0)
  AND (CAST(? AS TEXT) IS NULL OR instr(e.message, ?) > 0)
  AND (e.ts, e.id) > (?, ?)
  AND s.name IN ({marks})
ORDER BY e.ts ASC, e.id ASC LIMIT ?;

-- name: group_events_named_desc
SELECT e.id, s.name, e.ts, e.ingested_at, e.message, e.size
FROM logs_events e JOIN logs_streams s ON s.id = e.stream_id
WHERE e.group_id = ? AND e.ts >= ? AND e.ts <= ? AND e.ts >= ?
  AND (CAST(? AS TEXT) IS NULL OR substr(s.name, 1, length(CAST(? AS TEXT))) = ?)
  AND (CAST(? AS TEXT) IS NULL OR instr(e.message, ?) > 0)
  AND (CAST(? AS TEXT) IS NULL OR instr(e.message, ?) > 0)
  AND (CAST(? AS TEXT) IS NULL OR instr(e.message, ?) > 0)
  AND (e.ts, e.id) < (?, ?)
  AND s.name IN ({marks})
ORDER BY e.ts DESC, e.id DESC LIMIT ?;

-- == retention ===============================================================================

-- name: groups_with_retention
SELECT id, retention_days FROM logs_groups WHERE retention_days IS NOT NULL ORDER BY id;

-- name: delete_expired
-- Up to n events older than a cutoff, oldest first; their sizes come back to update the group's total.
DELETE FROM logs_events WHERE id IN (SELECT id FROM logs_events WHERE group_id = ? AND ts < ? ORDER BY ts LIMIT ?)
RETURNING size;

-- name: remove_bytes
UPDATE logs_groups SET stored_bytes = stored_bytes - ? WHERE id = ?;
