-- CloudWatch Logs Insights: queries and query definitions (store/logs_insights.py).

-- name: insert_query
INSERT INTO logs_queries (id, account, region, query_string, group_names, status, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: query
SELECT id, query_string, group_names, status, created_at, finished_at, results, statistics
FROM logs_queries WHERE id = ? AND account = ? AND region = ?;

-- name: set_running
UPDATE logs_queries SET status = 'Running' WHERE id = ? AND status = 'Scheduled';

-- name: finish_query
-- Only a query still running finishes: one stopped meanwhile stays Cancelled.
UPDATE logs_queries SET status = ?, finished_at = ?, results = ?, statistics = ?
WHERE id = ? AND status IN ('Scheduled', 'Running');

-- name: status
SELECT status FROM logs_queries WHERE id = ?;

-- name: list_queries
-- Newest first, strictly after a (created_at, id) position; status NULL: any.
SELECT id, query_string, group_names, status, created_at, finished_at, results, statistics
FROM logs_queries
WHERE account = ? AND region = ? AND (CAST(? AS TEXT) IS NULL OR status = ?)
  AND (created_at < ? OR (created_at = ? AND id < ?))
ORDER BY created_at DESC, id DESC LIMIT ?;

-- name: delete_old_queries
DELETE FROM logs_queries WHERE created_at < ?;

-- name: definition
SELECT id, name, query_string, group_names, parameters, language, last_modified
FROM logs_query_definitions WHERE id = ? AND account = ? AND region = ?;

-- name: insert_definition
INSERT INTO logs_query_definitions (id, account, region, name, query_string, group_names, parameters, language,
                                    last_modified)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: update_definition
UPDATE logs_query_definitions SET name = ?, query_string = ?, group_names = ?, parameters = ?, language = ?,
       last_modified = ?
WHERE id = ? AND account = ? AND region = ?;

-- name: delete_definition
DELETE FROM logs_query_definitions WHERE id = ? AND account = ? AND region = ?;

-- name: count_definitions
SELECT COUNT(*) FROM logs_query_definitions WHERE account = ? AND region = ?;

-- name: list_definitions
-- By name then id, strictly after a (name, id) position; prefix NULL: all.
SELECT id, name, query_string, group_names, parameters, language, last_modified
FROM logs_query_definitions
WHERE account = ? AND region = ?
  AND (CAST(? AS TEXT) IS NULL OR substr(name, 1, length(CAST(? AS TEXT))) = ?)
  AND (name > ? OR (name = ? AND id > ?))
ORDER BY name, id LIMIT ?;

-- name: event
-- One event by its group and id (a query result's @ptr), with what GetLogRecord reports of it.
SELECT e.id, s.name, e.ts, e.ingested_at, e.message, g.account, g.region, g.name, g.retention_days
FROM logs_events e JOIN logs_streams s ON s.id = e.stream_id JOIN logs_groups g ON g.id = e.group_id
WHERE e.id = ? AND e.group_id = ?;

-- name: scan
-- A query's read of one group: events with start <= ts <= end, newest first, strictly before (ts, id)
-- (the caller passes min(end, that ts) as end, where the index range starts).
SELECT id, stream_id, ts, ingested_at, message, size FROM logs_events
WHERE group_id = ? AND ts >= ? AND ts <= ? AND (ts, id) < (?, ?)
ORDER BY ts DESC, id DESC LIMIT ?;

-- name: scan_times
-- The same without the messages (a query that reads only timestamps; the size still counts as scanned).
SELECT id, stream_id, ts, ingested_at, '', size FROM logs_events
WHERE group_id = ? AND ts >= ? AND ts <= ? AND (ts, id) < (?, ?)
ORDER BY ts DESC, id DESC LIMIT ?;

-- name: stream_names
SELECT id, name FROM logs_streams WHERE group_id = ?;
