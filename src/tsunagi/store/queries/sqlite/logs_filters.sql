-- CloudWatch Logs' subscription and metric filters (see store/logs_filters.py).

-- name: of_group
-- A group's filters of one kind (NULL: both), by name.
SELECT f.id, g.name, f.kind, f.name, f.pattern, f.doc, f.created_at
FROM logs_filters f JOIN logs_groups g ON g.id = f.group_id
WHERE f.group_id = ? AND (CAST(? AS TEXT) IS NULL OR f.kind = ?)
ORDER BY f.name;

-- name: of_group_named
-- The filters of the group that has this name, both kinds (the append path).
SELECT f.id, g.name, f.kind, f.name, f.pattern, f.doc, f.created_at
FROM logs_filters f JOIN logs_groups g ON g.id = f.group_id
WHERE g.account = ? AND g.region = ? AND g.name = ?
ORDER BY f.name;

-- name: list
-- Filters of one kind in a group (NULL: every group of the account) by group and name, after a key.
SELECT f.id, g.name, f.kind, f.name, f.pattern, f.doc, f.created_at
FROM logs_filters f JOIN logs_groups g ON g.id = f.group_id
WHERE g.account = ? AND g.region = ? AND f.kind = ?
  AND (CAST(? AS BIGINT) IS NULL OR f.group_id = ?)
  AND (CAST(? AS TEXT) IS NULL OR substr(f.name, 1, length(CAST(? AS TEXT))) = ?)
  AND (g.name > ? OR (g.name = ? AND f.name > ?))
ORDER BY g.name, f.name LIMIT ?;

-- name: count
SELECT count(*) FROM logs_filters WHERE group_id = ? AND kind = ?;

-- name: lock_group
-- Serializes filter changes of one group (the per-group limit is checked under it).
UPDATE logs_groups SET stored_bytes = stored_bytes WHERE id = ? RETURNING id;

-- name: upsert
INSERT INTO logs_filters (group_id, kind, name, pattern, doc, created_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (group_id, kind, name) DO UPDATE SET pattern = excluded.pattern, doc = excluded.doc;

-- name: exists
SELECT id FROM logs_filters WHERE group_id = ? AND kind = ? AND name = ?;

-- name: delete
DELETE FROM logs_filters WHERE group_id = ? AND kind = ? AND name = ?;

-- name: count_per_group
-- How many metric filters each of these groups has (DescribeLogGroups' metricFilterCount).
SELECT group_id, count(*) FROM logs_filters WHERE kind = 'metric' AND group_id IN ({marks}) GROUP BY group_id;
