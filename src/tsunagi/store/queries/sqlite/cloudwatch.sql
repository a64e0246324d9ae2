-- CloudWatch (see store/cloudwatch.py): metrics, their aggregated data, alarms, history, tags, leases.

-- == metrics =================================================================================
-- name: touch_metric
INSERT INTO cw_metrics (account, region, namespace, name, dims, updated_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (account, region, namespace, name, dims)
DO UPDATE SET updated_at = CASE WHEN excluded.updated_at > cw_metrics.updated_at
                                THEN excluded.updated_at ELSE cw_metrics.updated_at END;

-- name: list_metrics
-- ListMetrics: the region's metrics (optionally of one namespace and name), in key order after a key.
SELECT namespace, name, dims, updated_at FROM cw_metrics
WHERE account = ? AND region = ? AND (? IS NULL OR namespace = ?) AND (? IS NULL OR name = ?)
  AND (namespace > ? OR (namespace = ? AND name > ?) OR (namespace = ? AND name = ? AND dims > ?))
ORDER BY namespace, name, dims LIMIT ?;

-- name: metric_dims
-- The dimension sets a namespace's metric has (a metric alarm's or a query's candidates).
SELECT dims FROM cw_metrics WHERE account = ? AND region = ? AND namespace = ? AND name = ?;

-- == data ====================================================================================
-- name: bucket_values
SELECT vals FROM cw_data WHERE account = ? AND region = ? AND namespace = ? AND name = ? AND dims = ?
  AND period = ? AND ts = ? AND unit = ?;

-- name: data_range
SELECT period, ts, unit, n, total, lo, hi, vals FROM cw_data
WHERE account = ? AND region = ? AND namespace = ? AND name = ? AND dims = ? AND ts >= ? AND ts < ?
ORDER BY ts;

-- name: aged
-- Buckets of one period older than a time (the retention sweep rolls them up or drops them).
SELECT account, region, namespace, name, dims, period, ts, unit, n, total, lo, hi, vals FROM cw_data
WHERE period = ? AND ts < ? LIMIT ?;

-- name: delete_bucket
DELETE FROM cw_data WHERE account = ? AND region = ? AND namespace = ? AND name = ? AND dims = ?
  AND period = ? AND ts = ? AND unit = ?;

-- name: delete_aged
DELETE FROM cw_data WHERE period = ? AND ts < ?;

-- name: delete_stale_metrics
DELETE FROM cw_metrics WHERE updated_at < ?;

-- == alarms ==================================================================================
-- name: put_alarm
INSERT INTO cw_alarms (account, region, name, kind, doc, actions_enabled, state, reason, reason_data, state_at,
                       transitioned_at, configured_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account, region, name) DO UPDATE SET kind = excluded.kind, doc = excluded.doc,
  actions_enabled = excluded.actions_enabled, configured_at = excluded.configured_at;

-- name: alarm
SELECT account, region, name, kind, doc, actions_enabled, state, reason, reason_data, state_at, transitioned_at,
       configured_at
FROM cw_alarms WHERE account = ? AND region = ? AND name = ?;

-- name: alarms
SELECT account, region, name, kind, doc, actions_enabled, state, reason, reason_data, state_at, transitioned_at,
       configured_at
FROM cw_alarms WHERE account = ? AND region = ? ORDER BY name;

-- name: all_alarms
SELECT account, region, name, kind, doc, actions_enabled, state, reason, reason_data, state_at, transitioned_at,
       configured_at
FROM cw_alarms ORDER BY account, region, name;

-- name: delete_alarm
DELETE FROM cw_alarms WHERE account = ? AND region = ? AND name = ?;

-- name: set_state
-- A state change, if the alarm is still in the state the evaluator read (another writer wins otherwise).
UPDATE cw_alarms SET state = ?, reason = ?, reason_data = ?, state_at = ?, transitioned_at = ?
WHERE account = ? AND region = ? AND name = ? AND state = ?;

-- name: set_actions_enabled
UPDATE cw_alarms SET actions_enabled = ? WHERE account = ? AND region = ? AND name = ?;

-- name: add_history
INSERT INTO cw_alarm_history (account, region, alarm_name, alarm_type, ts, item_type, summary, data)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);

-- name: history
SELECT id, alarm_name, alarm_type, ts, item_type, summary, data FROM cw_alarm_history
WHERE account = ? AND region = ? AND (? IS NULL OR alarm_name = ?) AND ts >= ? AND ts <= ?
ORDER BY ts DESC, id DESC;

-- name: delete_history
DELETE FROM cw_alarm_history WHERE account = ? AND region = ? AND alarm_name = ?;

-- name: prune_history
DELETE FROM cw_alarm_history WHERE ts < ?;

-- == tags ====================================================================================
-- name: tags
SELECT key, value FROM cw_tags WHERE arn = ? ORDER BY key;

-- name: put_tag
INSERT INTO cw_tags (arn, key, value) VALUES (?, ?, ?) ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value;

-- name: delete_tag
DELETE FROM cw_tags WHERE arn = ? AND key = ?;

-- name: delete_tags
DELETE FROM cw_tags WHERE arn = ?;

-- == leases ==================================================================================
-- name: add_lease
INSERT INTO cw_leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING;

-- name: take_lease
-- Take or keep a lease: when it is ours already or has expired.
UPDATE cw_leases SET holder = ?, expires_at = ? WHERE name = ? AND (holder = ? OR expires_at < ?);

-- name: merge_bucket
INSERT INTO cw_data (account, region, namespace, name, dims, period, ts, unit, n, total, lo, hi, vals)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account, region, namespace, name, dims, period, ts, unit) DO UPDATE SET
  n = cw_data.n + excluded.n, total = cw_data.total + excluded.total, lo = min(cw_data.lo, excluded.lo),
  hi = max(cw_data.hi, excluded.hi), vals = excluded.vals;
